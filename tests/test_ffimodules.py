"""The pre-parsed cffi modules must say exactly what the declarations in the bindings say."""

from __future__ import annotations

import os

import cffi
import pytest

from nvcontainer.bindings import ffimodules


@pytest.mark.parametrize("module", sorted(ffimodules.MODULES))
def test_generated_module_is_current(module: str) -> None:
    path = os.path.join(os.path.dirname(ffimodules.__file__), f"{module}.py")
    with open(path) as f:
        assert f.read() == ffimodules.source(module), "run: python -m nvcontainer.bindings.ffimodules"


@pytest.mark.parametrize("module", sorted(ffimodules.MODULES))
def test_loaded_ffi_equals_a_parsed_one(module: str) -> None:
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


def test_missing_module_falls_back_to_parsing() -> None:
    ffi = ffimodules.load("_no_such_ffi", "int nvc_probe(int);")
    assert ffi.sizeof("int") == 4 and isinstance(ffi, cffi.FFI)
