"""Tests for the ld.so.cache reader, with glibc's own ``ldconfig -p`` as the oracle."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcontainer.discovery import ldcache as lc
from nvcontainer.errors import LdcacheError

TESTDATA = Path("/work/shared/testdata/ldcache")
REAL_CACHES = sorted(TESTDATA.glob("*.ld.so.cache")) if TESTDATA.is_dir() else []
LDCONFIG = shutil.which("ldconfig") or ("/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else None)
GCC = shutil.which("gcc")


_LINE = re.compile(r"^\t(.*) \(([^,)]*(?:,[^,)]*)*?)(?:, hwcap: [^)]*)?\) => (.*)$")
_COUNT = re.compile(r"^(\d+) libs found in cache")

Row = Tuple[str, str, str]


def ldconfig_print(path: Path) -> Tuple[int, List[Row]]:
    """``ldconfig -p -C path`` as (announced count, [(key, flags text, value)]) in file order."""
    assert LDCONFIG is not None
    out = subprocess.run(
        [LDCONFIG, "-p", "-C", str(path)], check=True, capture_output=True, text=True, errors="surrogateescape"
    ).stdout
    count = -1
    rows: List[Row] = []
    for line in out.splitlines():
        head = _COUNT.match(line)
        if head:
            count = int(head.group(1))
            continue
        match = _LINE.match(line)
        if match:
            rows.append((match.group(1), match.group(2), match.group(3)))
    return count, rows


def our_rows(cache: lc.LdCache) -> List[Row]:
    return [(e.key, e.ldconfig_flags, e.value) for e in cache.entries]


def assert_matches_ldconfig(path: Path) -> lc.LdCache:
    cache = lc.read_ldcache(str(path))
    count, rows = ldconfig_print(path)
    assert count == len(cache.entries)
    assert our_rows(cache) == rows
    return cache


def build_cache(entries: Sequence[Tuple[int, bytes, bytes]], *, with_old_prefix: bool = False) -> bytes:
    """A new-format cache holding ``entries`` (flags, key, value), optionally behind an old part."""
    base = lc.NEW_HEADER.size + len(entries) * lc.NEW_ENTRY.size
    strings = bytearray()
    packed = []
    for flags, key, value in entries:
        key_at = base + len(strings)
        strings += key + b"\0"
        value_at = base + len(strings)
        strings += value + b"\0"
        packed.append(lc.NEW_ENTRY.pack(flags, key_at, value_at, 0, 0))
    new = lc.NEW_HEADER.pack(lc.NEW_MAGIC, lc.NEW_VERSION, len(entries), len(strings))
    new += b"".join(packed) + bytes(strings)
    if not with_old_prefix:
        return new
    return old_prefix(len(entries)) + new


def old_prefix(nlibs: int) -> bytes:
    """An old-format header and ``nlibs`` (meaningless) entries, padded to the new header's alignment."""
    old = lc.OLD_HEADER.pack(lc.OLD_MAGIC, nlibs) + b"".join(
        lc.OLD_ENTRY.pack(0x0303, 0, 0) for _ in range(nlibs)
    )
    return old + b"\0" * (-len(old) % lc.NEW_HEADER_ALIGN)


# --- agreement with ldconfig -------------------------------------------------------------------


def test_host_cache_matches_ldconfig() -> None:
    host = Path("/etc/ld.so.cache")
    if not host.exists():
        pytest.fail("no /etc/ld.so.cache")
    cache = assert_matches_ldconfig(host)
    assert cache.entries


@pytest.mark.parametrize("path", REAL_CACHES, ids=[p.name for p in REAL_CACHES])
def test_real_caches_match_ldconfig(path: Path) -> None:
    cache = assert_matches_ldconfig(path)
    assert len(cache.entries) > 600


def test_every_flag_is_worded_like_ldconfig(tmp_path: Path) -> None:
    # LoongArch float ABIs (0x1100, 0x1200) are newer than some installed glibcs; skip those.
    flags = [t | a for t in range(5) for a in range(0, 0x1100, 0x100)] + [0x0303 | 0x20000]
    entries = [(f, b"lib%d.so" % i, b"/lib/lib%d.so" % i) for i, f in enumerate(flags)]
    path = tmp_path / "cache"
    path.write_bytes(build_cache(entries))
    assert_matches_ldconfig(path)


def _compile(src: Path, out: Path, *args: str) -> None:
    assert GCC is not None
    subprocess.run([GCC, "-shared", "-fPIC", "-o", str(out), str(src), *args], check=True, capture_output=True)


def _has_m32(tmp_path: Path) -> bool:
    src = tmp_path / "probe.c"
    src.write_text("int probe(void) { return 0; }\n")
    result = subprocess.run(
        [str(GCC), "-m32", "-shared", "-fPIC", "-o", str(tmp_path / "probe.so"), str(src)], capture_output=True
    )
    return result.returncode == 0


@pytest.fixture(scope="module")
def built_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with real 64- and (if gcc can) 32-bit libraries, indexed by ``ldconfig -r``."""
    if GCC is None or LDCONFIG is None:
        pytest.fail("gcc or ldconfig not installed")
    root = tmp_path_factory.mktemp("ldroot")
    src = root / "lib.c"
    src.write_text("int nvc_test_symbol(void) { return 42; }\n")
    lib64 = root / "usr/lib/x86_64-linux-gnu"
    lib32 = root / "usr/lib/i386-linux-gnu"
    lib64.mkdir(parents=True)
    lib32.mkdir(parents=True)
    (root / "etc").mkdir()
    for name in ("libnvidia-ml", "libcuda", "libnvidia-tls"):
        _compile(src, lib64 / f"{name}.so.550.54.15", f"-Wl,-soname,{name}.so.1")
    if _has_m32(root):
        for name in ("libcuda", "libnvidia-tls"):
            _compile(src, lib32 / f"{name}.so.550.54.15", "-m32", f"-Wl,-soname,{name}.so.1")
    (root / "etc/ld.so.conf").write_text(f"/{lib64.relative_to(root)}\n/{lib32.relative_to(root)}\n")
    subprocess.run([LDCONFIG, "-r", str(root)], check=True, capture_output=True)
    return root


def test_built_cache_matches_ldconfig(built_root: Path) -> None:
    cache = assert_matches_ldconfig(built_root / "etc/ld.so.cache")
    keys64 = {e.key for e in cache.entries_for_arch(lc.X8664_LIB64)}
    assert {"libnvidia-ml.so.1", "libcuda.so.1", "libnvidia-tls.so.1"} <= keys64
    for entry in cache.entries_for_arch(lc.X8664_LIB64):
        assert entry.value.startswith("/usr/lib/x86_64-linux-gnu/")
    if any((built_root / "usr/lib/i386-linux-gnu").iterdir()):
        keys32 = {e.key: e.value for e in cache.entries_for_arch(lc.I386_LIB32)}
        assert keys32["libcuda.so.1"] == "/usr/lib/i386-linux-gnu/libcuda.so.1"


def test_compat_format_from_ldconfig(built_root: Path, tmp_path: Path) -> None:
    assert LDCONFIG is not None
    new = lc.read_ldcache(str(built_root / "etc/ld.so.cache"))
    root = tmp_path / "root"
    shutil.copytree(built_root, root, symlinks=True)
    result = subprocess.run([LDCONFIG, "-r", str(root), "-c", "compat"], capture_output=True)
    if result.returncode != 0:
        pytest.fail("this ldconfig cannot write the compat format")
    path = root / "etc/ld.so.cache"
    data = path.read_bytes()
    if not data.startswith(lc.OLD_MAGIC):
        pytest.fail("this ldconfig wrote no old-format part")
    compat = assert_matches_ldconfig(path)
    assert compat.entries == new.entries


def test_synthesized_compat_file_parses_like_new_part() -> None:
    source = REAL_CACHES[0] if REAL_CACHES else Path("/etc/ld.so.cache")
    if not source.exists():
        pytest.fail("no real cache available")
    new = source.read_bytes()
    expected = lc.parse_ldcache(new)
    for nlibs in (0, 1, 2, 5):
        assert lc.parse_ldcache(old_prefix(nlibs) + new) == expected


def test_synthesized_compat_file_matches_ldconfig(tmp_path: Path) -> None:
    entries = [(0x0303, b"libfoo.so.1", b"/lib/libfoo.so.1"), (0x0003, b"libbar.so.2", b"/lib32/libbar.so.2")]
    path = tmp_path / "cache"
    path.write_bytes(build_cache(entries, with_old_prefix=True))
    assert_matches_ldconfig(path)


# --- the original's selection helpers ----------------------------------------------------------


def test_entry_properties() -> None:
    entry = lc.LdCacheEntry("libcuda.so.1", "/usr/lib/libcuda.so.1", 0x0303)
    assert entry.arch == lc.X8664_LIB64
    assert entry.type == lc.ELF_LIBC6
    assert entry.is_elf
    assert entry.ldconfig_flags == "libc6,x86-64"
    assert lc.LdCacheEntry("a", "b", 0x0A03).ldconfig_flags == "libc6,AArch64"
    assert lc.LdCacheEntry("a", "b", 0x0903).ldconfig_flags == "libc6,hard-float"
    assert lc.LdCacheEntry("a", "b", 0x0503).ldconfig_flags == "libc6,64bit"
    assert lc.LdCacheEntry("a", "b", 0x0003).ldconfig_flags == "libc6"
    # The original keeps flags & 1 only: libc5 entries (type 2) are not used.
    assert not lc.LdCacheEntry("a", "b", 0x0302).is_elf


def test_entries_for_arch_and_lookup() -> None:
    data = build_cache(
        [
            (0x0303, b"libcuda.so.1", b"/lib64/libcuda.so.1"),
            (0x0003, b"libcuda.so.1", b"/lib32/libcuda.so.1"),
            (0x0302, b"libcuda.so", b"/lib64/libc5/libcuda.so"),
            (0x0301, b"libnvidia-ml.so.1", b"/lib64/libnvidia-ml.so.1"),
            (0x0803, b"libcuda.so.1", b"/libx32/libcuda.so.1"),
            (0x0303, b"libz.so.1", b"/lib64/libz.so.1"),
        ]
    )
    cache = lc.parse_ldcache(data)
    assert [e.value for e in cache.entries_for_arch(lc.X8664_LIB64)] == [
        "/lib64/libcuda.so.1",
        "/lib64/libnvidia-ml.so.1",
        "/lib64/libz.so.1",
    ]
    found = list(cache.lookup(["libnvidia-ml.so", "libcuda.so", "lib"], lc.X8664_LIB64))
    assert [(p, e.value) for p, e in found] == [
        ("libcuda.so", "/lib64/libcuda.so.1"),
        ("libnvidia-ml.so", "/lib64/libnvidia-ml.so.1"),
        ("lib", "/lib64/libz.so.1"),
    ]
    assert [e.value for _, e in cache.lookup(["libcuda.so"], lc.I386_LIB32)] == ["/lib32/libcuda.so.1"]


def test_host_arch_flags() -> None:
    assert lc.host_arch_flags("x86_64") == (lc.X8664_LIB64, lc.I386_LIB32)
    assert lc.host_arch_flags("aarch64") == (lc.AARCH64_LIB64, lc.ARM_LIBHF)
    assert lc.host_arch_flags("ppc64le") == (lc.POWERPC_LIB64, None)
    with pytest.raises(LdcacheError, match="unsupported architecture: riscv64"):
        lc.host_arch_flags("riscv64")
    lc.host_arch_flags()  # this host is one of the supported ones


# --- errors ------------------------------------------------------------------------------------

GOOD = build_cache([(0x0303, b"libfoo.so.1", b"/lib/libfoo.so.1")])


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "unsupported file format: test"),
        (b"\x7fELF" + b"\0" * 100, "unsupported file format: test"),
        (b"glibc-ld.so.cache1.0" + b"\0" * 100, "unsupported file format: test"),
        (GOOD[:10], "truncated file: test"),
        (GOOD[:40], "truncated file: test"),
        (GOOD[: lc.NEW_HEADER.size + 10], "truncated file: test: 1 entries do not fit"),
        (GOOD[:-1], "unterminated string at offset"),
        (lc.OLD_HEADER.pack(lc.OLD_MAGIC, 0)[:10] + b"", "unsupported file format: test"),
        (lc.OLD_MAGIC + b"\0\1", "truncated file: test"),
        (lc.OLD_HEADER.pack(lc.OLD_MAGIC, 1) + lc.OLD_ENTRY.pack(0x303, 0, 0), "unsupported file format: test"),
        (old_prefix(1) + b"garbage" * 10, "unsupported file format: test"),
    ],
)
def test_malformed_input_is_an_ldcache_error(data: bytes, message: str) -> None:
    with pytest.raises(LdcacheError) as info:
        lc.parse_ldcache(data, "test")
    assert info.value.message.startswith(message)
    assert "\n" not in info.value.message
    assert info.value.stage == "ldcache"


def test_string_offset_out_of_range() -> None:
    data = bytearray(GOOD)
    lc.NEW_ENTRY.pack_into(data, lc.NEW_HEADER.size, 0x0303, 0xFFFFFF00, 0, 0, 0)
    with pytest.raises(LdcacheError, match="string offset out of range: 0xffffff00 in test"):
        lc.parse_ldcache(bytes(data), "test")


def test_huge_entry_count_fails_fast() -> None:
    data = bytearray(GOOD)
    lc.NEW_HEADER.pack_into(data, 0, lc.NEW_MAGIC, lc.NEW_VERSION, 0xFFFFFFFF, 0)
    with pytest.raises(LdcacheError, match="do not fit"):
        lc.parse_ldcache(bytes(data), "test")


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(LdcacheError, match="open failed: .*missing: no such file or directory"):
        lc.read_ldcache(str(tmp_path / "missing"))
    with pytest.raises(LdcacheError, match="open failed"):
        lc.read_ldcache(str(tmp_path))


def test_old_format_only_cache_is_rejected(tmp_path: Path) -> None:
    data = lc.OLD_HEADER.pack(lc.OLD_MAGIC, 1) + lc.OLD_ENTRY.pack(0x303, 0, 12) + b"libfoo.so\0/lib/libfoo.so\0"
    with pytest.raises(LdcacheError, match="unsupported file format"):
        lc.parse_ldcache(data, "test")


def test_non_utf8_strings_survive() -> None:
    cache = lc.parse_ldcache(build_cache([(0x0303, b"lib\xff.so", b"/lib/lib\xff.so")]))
    assert os.fsencode(cache.entries[0].value) == b"/lib/lib\xff.so"


# --- robustness and speed ----------------------------------------------------------------------


def _parse_or_error(data: bytes) -> None:
    try:
        cache = lc.parse_ldcache(data, "fuzz")
    except LdcacheError as exc:
        assert "\n" not in exc.message
        return
    for entry in cache.entries:
        assert isinstance(entry.key, str) and isinstance(entry.value, str)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    _parse_or_error(data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([b"", lc.OLD_MAGIC, lc.NEW_MAGIC + lc.NEW_VERSION]), st.binary(max_size=512))
def test_random_bytes_after_magic(magic: bytes, data: bytes) -> None:
    _parse_or_error(magic + data)


def _real_cache() -> bytes:
    if REAL_CACHES:
        return REAL_CACHES[0].read_bytes()
    entries = [(0x0303, b"lib%d.so.1" % i, b"/usr/lib/lib%d.so.1" % i) for i in range(200)]
    return build_cache(entries)


REAL = _real_cache()
COMPAT = old_prefix(3) + REAL


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([REAL, COMPAT]),
    st.lists(st.tuples(st.integers(0, len(COMPAT) * 8 - 1)), max_size=8),
    st.lists(st.tuples(st.integers(0, len(COMPAT) // 4), st.integers(0, 2**32 - 1)), max_size=4),
    st.one_of(st.none(), st.integers(0, len(COMPAT))),
)
def test_mutated_real_cache(
    base: bytes,
    flips: List[Tuple[int]],
    words: List[Tuple[int, int]],
    cut: Optional[int],
) -> None:
    data = bytearray(base)
    for (bit,) in flips:
        if bit // 8 < len(data):
            data[bit // 8] ^= 1 << (bit % 8)
    for index, value in words:
        at = index * 4
        if at + 4 <= len(data):
            data[at : at + 4] = value.to_bytes(4, "little")
    if cut is not None:
        del data[cut:]
    _parse_or_error(bytes(data))


def test_header_offsets_are_corrupted_entry_by_entry() -> None:
    cache = lc.parse_ldcache(REAL)
    assert cache.entries
    start = lc.NEW_HEADER.size
    for index in range(0, len(cache.entries), 97):
        data = bytearray(REAL)
        at = start + index * lc.NEW_ENTRY.size + 4
        data[at : at + 4] = (len(REAL) + 1).to_bytes(4, "little")
        with pytest.raises(LdcacheError, match="string offset out of range"):
            lc.parse_ldcache(bytes(data))


def test_large_cache_parses_fast() -> None:
    entries = [
        (0x0303, b"libsomething-%05d.so.1" % i, b"/usr/lib/x86_64-linux-gnu/libsomething-%05d.so.1" % i)
        for i in range(5000)
    ]
    data = build_cache(entries)
    began = time.perf_counter()
    cache = lc.parse_ldcache(data)
    elapsed = time.perf_counter() - began
    assert len(cache.entries) == 5000
    assert cache.entries[4999].key == "libsomething-04999.so.1"
    assert elapsed < 0.5
