"""elfscan (headers read with struct, on the container-start path) against pyelftools, on every ELF
file of the simulated drivers and of the host's library and program directories; and malformed
input, which must fail with ValueError/struct.error only."""

from __future__ import annotations

import glob
import os
import struct

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
        return ET.get(parsed["e_type"], -1), interp, elf._abi_tag(parsed)


def _ours(path: str):  # type: ignore[no-untyped-def]
    fd = os.open(path, os.O_RDONLY)
    try:
        e_type, interp = elfscan.executable_facts(fd)
    finally:
        os.close(fd)
    return e_type, interp, elfscan.abi_tag(path)


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
