"""The pre-parsed cffi modules must say exactly what the declarations in the bindings say: the same
types, sizes, field offsets and function types as a fresh parse of the cdef (whatever cffi is
installed), and, under the cffi version that wrote them, the very text ``generate`` writes."""

from __future__ import annotations

import os
import re

import cffi
import pytest

from nvcontainer.bindings import ffimodules


def _library(module: str, sim_driver):  # type: ignore[no-untyped-def]
    """What each binding is loaded against: libc for _linux_ffi, the simulated NVML for _nvml_ffi."""
    return None if module == "_linux_ffi" else str(sim_driver.lib_dir / "libnvidia-ml.so.1")


@pytest.mark.parametrize("module", sorted(ffimodules.MODULES))
def test_generated_module_is_current(module: str, sim_driver) -> None:  # type: ignore[no-untyped-def]
    cdef = ffimodules.MODULES[module]()
    loaded = ffimodules.load(module, cdef)
    parsed = cffi.FFI()
    parsed.cdef(cdef)
    assert not isinstance(loaded, cffi.FFI), "the generated module was used, not a run-time parse"
    assert loaded.list_types() == parsed.list_types()
    typedefs, structs, _ = parsed.list_types()
    sized = 0
    for ctype in typedefs + [f"struct {name}" for name in structs]:
        try:
            size = parsed.sizeof(ctype)
        except (cffi.FFIError, ValueError):  # opaque (nvmlDevice_st)
            continue
        sized += 1
        assert loaded.sizeof(ctype) == size, ctype
        if ctype.startswith("struct ") or parsed.typeof(ctype).kind == "struct":
            for field, _ in parsed.typeof(ctype).fields:
                assert loaded.offsetof(ctype, field) == parsed.offsetof(ctype, field), (ctype, field)
    assert sized > 0
    # Every declared function, with its C type, resolved in the library the binding opens.
    path = _library(module, sim_driver)
    ours, theirs = loaded.dlopen(path), parsed.dlopen(path)
    names = [n for n in dir(theirs) if callable(getattr(theirs, n, None))]
    assert len(names) > 5
    # (One side may spell a struct by its typedef: compare with every typedef spelled out.)
    spelled = sorted(((t, next((c for c in (loaded.typeof(t).cname, parsed.typeof(t).cname) if c != t), t))
                      for t in typedefs), key=lambda p: -len(p[0]))

    def canonical(cname: str) -> str:
        for typedef, full in spelled:
            cname = re.sub(rf"\b{re.escape(typedef)}\b", full, cname)
        return cname

    for name in names:
        assert canonical(loaded.typeof(getattr(ours, name)).cname) == canonical(
            parsed.typeof(getattr(theirs, name)).cname), name
    # Under the cffi version that wrote it, also the very text (another version may order it otherwise).
    written_by = ffimodules.generated_with(module)
    assert written_by, "the header names the cffi version"
    if written_by == cffi.__version__:
        path = os.path.join(os.path.dirname(ffimodules.__file__), f"{module}.py")
        with open(path) as f:
            assert f.read() == ffimodules.source(module), "run: python -m nvcontainer.bindings.ffimodules"


def test_missing_module_falls_back_to_parsing() -> None:
    ffi = ffimodules.load("_no_such_ffi", "int nvc_probe(int);")
    assert ffi.sizeof("int") == 4 and isinstance(ffi, cffi.FFI)
