"""elfscan (headers read with struct, on the container-start path) against pyelftools, on every ELF
file of the simulated drivers and of the host's library and program directories; and malformed
input, which must fail with ValueError/struct.error only."""

from __future__ import annotations

import glob
import os
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings
from hypothesis import strategies as st

from nvcontainer.discovery import elf, elfscan

HOST_GLOBS = ("/usr/lib/x86_64-linux-gnu/*.so*", "/usr/lib/i386-linux-gnu/*.so*", "/usr/bin/*", "/usr/sbin/*")
ET = {"ET_EXEC": elfscan.ET_EXEC, "ET_DYN": elfscan.ET_DYN, "ET_REL": 1, "ET_CORE": 4}


def _elf_files(paths):  # type: ignore[no-untyped-def]
    for path in paths:
        if os.path.isfile(path) and not os.path.islink(path) and elf.elf_class(path) is not None:
            yield path


def _reference(path: str):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        parsed = ELFFile(f)
        interp = any(seg["p_type"] == "PT_INTERP" for seg in parsed.iter_segments())
        soname = None
        for section in parsed.iter_sections():  # the .dynamic section, as NVIDIA's Go reader uses
            if section["sh_type"] == "SHT_DYNAMIC":
                soname = next((tag.soname for tag in section.iter_tags() if tag.entry.d_tag == "DT_SONAME"), None)
                break
        return ET.get(parsed["e_type"], -1), interp, elf._abi_tag(parsed), soname


def _ours(path: str):  # type: ignore[no-untyped-def]
    fd = os.open(path, os.O_RDONLY)
    try:
        e_type, interp = elfscan.executable_facts(fd)
    finally:
        os.close(fd)
    return e_type, interp, elfscan.abi_tag(path), elfscan.soname(path)


def test_agrees_with_pyelftools_on_simulated_drivers(sim_driver, build_sim) -> None:  # type: ignore[no-untyped-def]
    roots = [sim_driver.root, build_sim(layout="rhel").root]
    files = [p for r in roots for p in _elf_files(glob.glob(f"{r}/**/*", recursive=True))]
    assert len(files) > 100
    tls = 0
    for path in files:
        assert _ours(path) == _reference(path), path
        tls += "libnvidia-tls" in path and elfscan.abi_tag(path) == elf.LINUX_2_3_99
    assert tls >= 2, "the 64- and 32-bit libnvidia-tls carry the Linux 2.3.99 tag"


def test_agrees_with_pyelftools_on_host_files() -> None:
    files = list(_elf_files(p for g in HOST_GLOBS for p in sorted(glob.glob(g))))
    assert len(files) > 200
    tagged = 0
    for path in files:
        assert _ours(path) == _reference(path), path
        tagged += elfscan.abi_tag(path) is not None
    assert tagged > 0, "glibc's libraries carry an ABI tag"


@pytest.mark.parametrize("cut", [0, 3, 16, 40, 63, 100])
def test_truncated_files_are_value_errors(tmp_path, cut: int) -> None:  # type: ignore[no-untyped-def]
    data = open("/lib/x86_64-linux-gnu/libc.so.6", "rb").read()[:cut]
    path = tmp_path / "cut.so"
    path.write_bytes(data)
    with pytest.raises(ValueError):
        elfscan.abi_tag(str(path))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=64, max_size=4096), st.integers(min_value=0, max_value=63))
def test_fuzzed_headers_fail_cleanly(tmp_path_factory, blob: bytes, keep: int) -> None:  # type: ignore[no-untyped-def]
    head = open("/lib/x86_64-linux-gnu/libc.so.6", "rb").read(64)
    path = tmp_path_factory.mktemp("fuzz") / "f.so"
    path.write_bytes(head[:keep] + blob[keep:])
    try:
        elfscan.abi_tag(str(path))
        fd = os.open(path, os.O_RDONLY)
        try:
            elfscan.executable_facts(fd)
        finally:
            os.close(fd)
    except (ValueError, struct.error, OSError):
        pass


def _facts(path: Path):  # type: ignore[no-untyped-def]
    fd = os.open(path, os.O_RDONLY)
    try:
        return elfscan.executable_facts(fd)
    finally:
        os.close(fd)


def test_class_byte_that_lies_about_the_machine_is_refused(tmp_path: Path) -> None:
    """The kernel loads by e_machine: /bin/true with its class byte set to 32-bit still runs as a
    dynamic x86-64 program, so reading it in the 32-bit layout (which finds no PT_INTERP) is refused."""
    data = bytearray(open("/bin/true", "rb").read())
    assert _facts(Path("/bin/true")) == (elfscan.ET_DYN, True)
    data[4] = 1
    data[48] = 1  # e_flags (ignored on x86-64), which the 32-bit layout reads as e_shnum
    path = tmp_path / "true32"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        _facts(path)
    from nvcontainer.apply.ldconfig import _check_static
    from nvcontainer.errors import LdcacheError

    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(LdcacheError, match="invalid ldconfig binary"):
            _check_static(fd, str(path))
    finally:
        os.close(fd)


def test_program_headers_at_offset_zero_are_read(tmp_path: Path) -> None:
    """e_phoff 0 with e_phnum 3: the kernel reads the headers at offset 0, where the second one's
    p_type is e_phnum (3 = PT_INTERP) for this file; so must we."""
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), elfscan.ET_DYN, 62, 1, 0, 0, 0, 0,
                         64, 56, 3, 0, 0, 0)
    path = tmp_path / "phoff0"
    path.write_bytes(header + bytes(200))
    assert _facts(path) == (elfscan.ET_DYN, True)


def test_a_fifo_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "libnvidia-tls.so.1"
    os.mkfifo(fifo)
    assert elf.elf_class(str(fifo)) is None
    with pytest.raises(ValueError, match="regular"):
        elfscan.abi_tag(str(fifo))
