"""Tests for the ELF inspection and the original's library selection rules, on gcc-built files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcontainer.discovery import elf
from nvcontainer.errors import DetectionError

GCC = shutil.which("gcc")

VERSION = "550.54.15"
PLAIN_C = "int nvc_plain(void) { return 1; }\n"
ABI_TAG_C = r"""
__asm__(".section .note.ABI-tag,\"a\",@note\n"
        ".p2align 2\n"
        ".long 4\n"        /* namesz */
        ".long 16\n"       /* descsz */
        ".long 1\n"        /* NT_GNU_ABI_TAG */
        ".asciz \"GNU\"\n"
        ".long 0\n.long 2\n.long 3\n.long 99\n"
        ".previous\n");
int nvc_tls(void) { return 2; }
"""
OTHER_ABI_TAG_C = ABI_TAG_C.replace(".long 0\\n.long 2\\n.long 3\\n.long 99", ".long 0\\n.long 3\\n.long 2\\n.long 0")


def _gcc(out: Path, source: str, *args: str) -> None:
    assert GCC is not None
    src = out.with_suffix(out.suffix + ".c")
    src.write_text(source)
    cmd = [GCC, "-shared", "-fPIC", "-o", str(out), str(src), *args]
    subprocess.run(cmd, check=True, capture_output=True)


def _can_m32(tmp: Path) -> bool:
    try:
        _gcc(tmp / "probe32.so", PLAIN_C, "-m32")
    except subprocess.CalledProcessError:
        return False
    return True


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Real shared objects: name -> path."""
    tmp = tmp_path_factory.mktemp("elf")
    out: Dict[str, Path] = {}

    def build(key: str, filename: str, source: str, *args: str) -> None:
        out[key] = tmp / filename
        _gcc(out[key], source, *args)

    build("glcore", f"libnvidia-glcore.so.{VERSION}", PLAIN_C, f"-Wl,-soname,libnvidia-glcore.so.{VERSION}")
    build("eglcore", f"libnvidia-eglcore.so.{VERSION}", PLAIN_C, f"-Wl,-soname,libnvidia-eglcore.so.{VERSION}")
    build("ml", f"libnvidia-ml.so.{VERSION}", PLAIN_C, "-Wl,-soname,libnvidia-ml.so.1")
    build("nosoname", "libnosoname.so", PLAIN_C)
    build("gl", "libGL.so.1.7.0", PLAIN_C, "-Wl,-soname,libGL.so.1", "-Wl,--no-as-needed", str(out["glcore"]))
    build("egl", "libEGL.so.1.1.0", PLAIN_C, "-Wl,-soname,libEGL.so.1", "-Wl,--no-as-needed", str(out["eglcore"]))
    build("glvnd_gl", "libGL.so.1", PLAIN_C, "-Wl,-soname,libGL.so.1")
    build("tls", f"libnvidia-tls.so.{VERSION}", ABI_TAG_C, "-Wl,-soname,libnvidia-tls.so.1")
    build("tls_other", "libnvidia-tls-other.so", OTHER_ABI_TAG_C)
    if _can_m32(tmp):
        build("ml32", f"libnvidia-ml32.so.{VERSION}", PLAIN_C, "-m32", "-Wl,-soname,libnvidia-ml.so.1")
        build("tls32", f"libnvidia-tls32.so.{VERSION}", ABI_TAG_C, "-m32", "-Wl,-soname,libnvidia-tls.so.1")
    return out


def test_soname_class_machine(libs: Dict[str, Path]) -> None:
    info = elf.inspect_elf(str(libs["ml"]))
    assert info.elf_class == 64
    assert info.machine in ("EM_X86_64", "EM_AARCH64", "EM_PPC64")
    assert info.soname == "libnvidia-ml.so.1"
    assert "libc.so.6" in info.needed or info.needed == ()
    assert info.abi_tag is None
    assert elf.class_matches(info, want64=True)
    assert not elf.class_matches(info, want64=False)
    assert elf.inspect_elf(str(libs["nosoname"])).soname is None


def test_32bit_library(libs: Dict[str, Path]) -> None:
    if "ml32" not in libs:
        pytest.fail("gcc -m32 not available")
    info = elf.inspect_elf(str(libs["ml32"]))
    assert (info.elf_class, info.machine, info.soname) == (32, "EM_386", "libnvidia-ml.so.1")
    assert elf.class_matches(info, want64=False)
    assert not elf.class_matches(info, want64=True)
    tls32 = elf.inspect_elf(str(libs["tls32"]))
    assert tls32.abi_tag == (0, 2, 3, 99)
    assert elf.has_linux_abi_tag_2_3_99(tls32)


def test_needed_and_nvidia_core(libs: Dict[str, Path]) -> None:
    gl = elf.inspect_elf(str(libs["gl"]))
    assert f"libnvidia-glcore.so.{VERSION}" in gl.needed
    assert elf.needs_nvidia_core(gl)
    egl = elf.inspect_elf(str(libs["egl"]))
    assert f"libnvidia-eglcore.so.{VERSION}" in egl.needed
    assert elf.needs_nvidia_core(egl)
    assert not elf.needs_nvidia_core(elf.inspect_elf(str(libs["glvnd_gl"])))


def test_abi_tag(libs: Dict[str, Path]) -> None:
    tls = elf.inspect_elf(str(libs["tls"]))
    assert tls.abi_tag == (0, 2, 3, 99)
    assert elf.has_linux_abi_tag_2_3_99(tls)
    other = elf.inspect_elf(str(libs["tls_other"]))
    assert other.abi_tag == (0, 3, 2, 0)
    assert not elf.has_linux_abi_tag_2_3_99(other)
    assert not elf.has_linux_abi_tag_2_3_99(elf.inspect_elf(str(libs["ml"])))


def test_stripped_section_headers_fall_back_to_dynamic_segment(libs: Dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(libs["gl"].read_bytes())
    # Zero e_shoff/e_shnum/e_shstrndx of a 64-bit little-endian file: no section headers at all.
    assert data[4] == 2 and data[5] == 1
    data[0x28:0x30] = bytes(8)
    data[0x3C:0x40] = bytes(4)
    path = tmp_path / "noshdr.so"
    path.write_bytes(bytes(data))
    info = elf.inspect_elf(str(path))
    assert info.soname == "libGL.so.1"
    assert f"libnvidia-glcore.so.{VERSION}" in info.needed
    assert info.abi_tag is None


def test_matches_driver_version() -> None:
    assert elf.matches_driver_version(f"/usr/lib/libnvidia-ml.so.{VERSION}", VERSION)
    assert elf.matches_driver_version(f"libcuda.so.{VERSION}", VERSION)
    assert not elf.matches_driver_version("/usr/lib/libnvidia-ml.so.1", VERSION)
    assert not elf.matches_driver_version("/usr/lib/libnvidia-ml.so.550.54.14", VERSION)
    assert not elf.matches_driver_version(f"/usr/lib/libnvidia-ml.so.1{VERSION}", VERSION)
    assert not elf.matches_driver_version(f"/lib.{VERSION}/libfoo.so", VERSION)
    assert not elf.matches_driver_version("/usr/lib/libfoo.so.", "")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an elf file"),
        (b"#!/bin/sh\necho hi\n", "not an elf file"),
        (b"\x7fELF", "invalid elf file"),
        (b"\x7fELF" + b"\xff" * 60, "invalid elf file"),
    ],
)
def test_garbage_is_a_detection_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.so"
    path.write_bytes(content)
    with pytest.raises(DetectionError) as info:
        elf.inspect_elf(str(path))
    assert info.value.message.startswith(f"{message}: {path}")
    assert "\n" not in info.value.message


def test_truncated_library(libs: Dict[str, Path], tmp_path: Path) -> None:
    data = libs["gl"].read_bytes()
    for size in (16, 63, 64, 200, len(data) // 2):
        path = tmp_path / f"cut{size}.so"
        path.write_bytes(data[:size])
        try:
            info = elf.inspect_elf(str(path))
        except DetectionError as exc:
            assert "\n" not in exc.message
        else:
            assert info.elf_class == 64


def test_unopenable(tmp_path: Path) -> None:
    with pytest.raises(DetectionError, match="open failed: .*: no such file or directory"):
        elf.inspect_elf(str(tmp_path / "missing.so"))
    with pytest.raises(DetectionError, match="open failed"):
        elf.inspect_elf(str(tmp_path))


_SAMPLE: List[bytes] = []


def _sample(libs: Dict[str, Path]) -> bytes:
    if not _SAMPLE:
        _SAMPLE.append(libs["tls"].read_bytes())
    return _SAMPLE[0]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), min_size=1, max_size=8),
    st.lists(st.tuples(st.integers(0, 1 << 13), st.integers(0, 2**32 - 1)), max_size=4),
    st.one_of(st.none(), st.integers(0, 1 << 16)),
)
def test_mutated_library(
    libs: Dict[str, Path],
    tmp_path: Path,
    xors: List[Tuple[int, int]],
    words: List[Tuple[int, int]],
    cut: Optional[int],
) -> None:
    data = bytearray(_sample(libs))
    # Bias mutations towards the headers, where they matter most.
    for at, mask in xors:
        at = at % 256 if at % 2 else at % len(data)
        data[at] ^= mask
    for index, value in words:
        at = (index * 4) % (len(data) - 4)
        data[at : at + 4] = value.to_bytes(4, "little")
    if cut is not None:
        del data[cut:]
    path = tmp_path / f"fuzz{os.getpid()}.so"
    path.write_bytes(bytes(data))
    try:
        info = elf.inspect_elf(str(path))
    except DetectionError as exc:
        assert "\n" not in exc.message
    else:
        assert info.elf_class in (32, 64)
        assert all(isinstance(name, str) for name in info.needed)


def test_elf_class_from_identification_bytes(tmp_path, sim_driver) -> None:  # type: ignore[no-untyped-def]
    from nvcontainer.discovery.elf import elf_class

    lib64 = sim_driver.nvml_library
    assert elf_class(str(lib64)) == 64 == elf.inspect_elf(str(lib64)).elf_class
    if sim_driver.lib32_dir is not None:
        lib32 = next(p for p in sim_driver.lib32_dir.iterdir()
                     if p.name.startswith("libcuda.so.") and not p.is_symlink())
        assert elf_class(str(lib32)) == 32 == elf.inspect_elf(str(lib32)).elf_class
    (tmp_path / "text").write_text("not an elf")
    (tmp_path / "short").write_bytes(b"\x7fELF")
    assert elf_class(str(tmp_path / "text")) is None
    assert elf_class(str(tmp_path / "short")) is None
    assert elf_class(str(tmp_path / "missing")) is None
