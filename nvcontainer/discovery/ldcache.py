"""Reader for glibc's ``ld.so.cache``, the dynamic linker's library index.

Library discovery looks driver libraries up in the cache of the driver root, as
libnvidia-container's ``src/ldcache.c`` does.  Two layouts exist on disk:

* the new format: a ``glibc-ld.so.cache1.1`` header followed by 24-byte entries whose key
  and value are string offsets from the start of that header;
* the compat format: an old ``ld.so-1.7.0`` header and 12-byte entries, padded to 8 bytes,
  followed by a complete new-format cache.  Only the new part is read, as the original does.

A file with only the old format is rejected.  Data is read in native byte order (the cache
is generated for the machine it lives on).  Every defect of the input is reported as an
``LdcacheError``; no other exception escapes ``parse_ldcache``.
"""

from __future__ import annotations

import os
import struct
from itertools import repeat

from nvcontainer.errors import LdcacheError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Iterable, Iterator, Optional, Tuple

# On-disk layouts ("=": native byte order, standard sizes, padding spelled out).
OLD_MAGIC = b"ld.so-1.7.0"
OLD_HEADER = struct.Struct("=11sxI")  # magic[11] (+1 pad), u32 nlibs
OLD_ENTRY = struct.Struct("=iII")  # i32 flags, u32 key, u32 value
NEW_MAGIC = b"glibc-ld.so.cache"
NEW_VERSION = b"1.1"
NEW_HEADER = struct.Struct("=17s3sII20x")  # magic, version, u32 nlibs, u32 table_size, u32 unused[5]
NEW_ENTRY = struct.Struct("=iIIIQ")  # i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap
NEW_HEADER_ALIGN = 8

# Entry type (flags & TYPE_MASK).
TYPE_MASK = 0x00FF
LIBC4 = 0x0000
ELF = 0x0001
ELF_LIBC5 = 0x0002
ELF_LIBC6 = 0x0003

# Entry architecture (flags & ARCH_MASK).
ARCH_MASK = 0xFF00
I386_LIB32 = 0x0000
SPARC_LIB64 = 0x0100
IA64_LIB64 = 0x0200
X8664_LIB64 = 0x0300
S390_LIB64 = 0x0400
POWERPC_LIB64 = 0x0500
MIPS64_LIBN32 = 0x0600
MIPS64_LIBN64 = 0x0700
X8664_LIBX32 = 0x0800
ARM_LIBHF = 0x0900
AARCH64_LIB64 = 0x0A00
ARM_LIBSF = 0x0B00
MIPS_LIB32_NAN2008 = 0x0C00
MIPS64_LIBN32_NAN2008 = 0x0D00
MIPS64_LIBN64_NAN2008 = 0x0E00
RISCV_FLOAT_ABI_SOFT = 0x0F00
RISCV_FLOAT_ABI_DOUBLE = 0x1000
LARCH_FLOAT_ABI_SOFT = 0x1100
LARCH_FLOAT_ABI_DOUBLE = 0x1200

# ldconfig -p wording (glibc elf/cache.c print_entry).
_TYPE_NAMES: Dict[int, str] = {LIBC4: "libc4", ELF: "ELF", ELF_LIBC5: "libc5", ELF_LIBC6: "libc6"}
_ARCH_NAMES: Dict[int, str] = {
    I386_LIB32: "",
    SPARC_LIB64: ",64bit",
    IA64_LIB64: ",IA-64",
    X8664_LIB64: ",x86-64",
    S390_LIB64: ",64bit",
    POWERPC_LIB64: ",64bit",
    MIPS64_LIBN32: ",N32",
    MIPS64_LIBN64: ",64bit",
    X8664_LIBX32: ",x32",
    ARM_LIBHF: ",hard-float",
    AARCH64_LIB64: ",AArch64",
    ARM_LIBSF: ",soft-float",
    MIPS_LIB32_NAN2008: ",nan2008",
    MIPS64_LIBN32_NAN2008: ",N32,nan2008",
    MIPS64_LIBN64_NAN2008: ",64bit,nan2008",
    RISCV_FLOAT_ABI_SOFT: ",soft-float",
    RISCV_FLOAT_ABI_DOUBLE: ",double-float",
    LARCH_FLOAT_ABI_SOFT: ",soft-float",
    LARCH_FLOAT_ABI_DOUBLE: ",double-float",
}

# os.uname().machine -> (native library arch, 32-bit compat arch or None), as in the original.
_HOST_ARCH: Dict[str, Tuple[int, Optional[int]]] = {
    "x86_64": (X8664_LIB64, I386_LIB32),
    "amd64": (X8664_LIB64, I386_LIB32),
    "aarch64": (AARCH64_LIB64, ARM_LIBHF),
    "arm64": (AARCH64_LIB64, ARM_LIBHF),
    "ppc64le": (POWERPC_LIB64, None),
}


class LdCacheEntry(tuple):
    """One cache entry ``(key, value, flags)``: ``key`` is the library name (usually a SONAME),
    ``value`` its path.

    Immutable like the records elsewhere, but a tuple: a cache has thousands of entries and a
    tuple is several times cheaper to build."""

    __slots__ = ()

    def __new__(cls, key: str, value: str, flags: int) -> LdCacheEntry:
        return tuple.__new__(cls, (key, value, flags))

    @property
    def key(self) -> str:
        return self[0]

    @property
    def value(self) -> str:
        return self[1]

    @property
    def flags(self) -> int:
        return self[2]

    def __repr__(self) -> str:
        return f"LdCacheEntry(key={self[0]!r}, value={self[1]!r}, flags={self[2]:#x})"

    @property
    def arch(self) -> int:
        return self.flags & ARCH_MASK

    @property
    def type(self) -> int:
        return self.flags & TYPE_MASK

    @property
    def is_elf(self) -> bool:
        # The original's test: bit 0 set (LD_ELF or LD_ELF_LIBC6, but not LD_ELF_LIBC5).
        return bool(self.flags & 1)

    @property
    def ldconfig_flags(self) -> str:
        """The flags as ``ldconfig -p`` words them, e.g. ``libc6,x86-64`` (hwcap not included)."""
        text = _TYPE_NAMES.get(self.type, "unknown")
        arch = _ARCH_NAMES.get(self.arch)
        return text + (arch if arch is not None else f",{self.arch}")


class LdCache(Record):
    """A parsed cache; ``entries`` are in file order (the order the linker searches them)."""

    entries: Tuple[LdCacheEntry, ...]

    def entries_for_arch(self, arch: int) -> Iterator[LdCacheEntry]:
        """ELF entries (in the original's sense, see ``is_elf``) built for ``arch``."""
        for entry in self.entries:
            if entry.is_elf and entry.arch == arch:
                yield entry

    def lookup(self, prefixes: Iterable[str], arch: int) -> Iterator[Tuple[str, LdCacheEntry]]:
        """``(prefix, entry)`` for each entry of ``arch`` whose key starts with one of ``prefixes``.

        Entries come in cache order; for each, the first matching prefix is reported.
        """
        prefix_list = tuple(prefixes)
        for entry in self.entries_for_arch(arch):
            for prefix in prefix_list:
                if entry.key.startswith(prefix):
                    yield prefix, entry
                    break


def host_arch_flags(machine: Optional[str] = None) -> Tuple[int, Optional[int]]:
    """The cache arch flags of native and 32-bit compat libraries for ``machine`` (default: this host)."""
    name = (machine if machine is not None else os.uname().machine).lower()
    try:
        return _HOST_ARCH[name]
    except KeyError:
        raise LdcacheError(f"unsupported architecture: {name}") from None


def read_ldcache(path: str) -> LdCache:
    """Read and parse the cache file at ``path``."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise LdcacheError(f"open failed: {path}: {reason}") from None
    return parse_ldcache(data, path)


def parse_ldcache(data: bytes, name: str = "ld.so.cache") -> LdCache:
    """Parse cache bytes; ``name`` is used in error messages only."""
    start = _new_header_offset(data, name)
    magic = NEW_MAGIC + NEW_VERSION
    head = data[start : start + len(magic)]
    if not magic.startswith(head) or (len(head) == 0 and start == 0):
        raise LdcacheError(f"unsupported file format: {name}")
    if len(data) < start + NEW_HEADER.size:
        raise LdcacheError(f"truncated file: {name}")
    _, _, nlibs, _ = NEW_HEADER.unpack_from(data, start)
    first = start + NEW_HEADER.size
    end = first + nlibs * NEW_ENTRY.size
    if end > len(data):
        raise LdcacheError(f"truncated file: {name}: {nlibs} entries do not fit")
    return LdCache(_entries(data, start, first, nlibs, name))


def _entries(data: bytes, start: int, first: int, nlibs: int, name: str) -> Tuple[LdCacheEntry, ...]:
    """The ``nlibs`` entries at ``first``, with every per-entry step done by C loops (``map``).

    The entry table is read as native u32 words (6 per entry: flags, key, value, osversion and the
    two halves of hwcap).  The file from the new header on is decoded as latin-1, so character
    offsets are byte offsets; keys are mostly suffixes of values (ldconfig shares string tails), so
    each string is cut at its own offset up to the next NUL.  Non-ASCII strings are re-decoded as
    UTF-8 with surrogateescape, which keeps arbitrary bytes round-trippable through os.fsencode."""
    words = memoryview(data)[first : first + nlibs * NEW_ENTRY.size].cast("I").tolist()
    flags = words[0::6]
    if flags and max(flags) > 0x7FFFFFFF:  # the field is an i32
        flags = [f - (1 << 32) if f > 0x7FFFFFFF else f for f in flags]
    offsets = words[1::6] + words[2::6]
    text = data[start:].decode("latin-1")
    size = len(text)
    if offsets and max(offsets) >= size:
        bad = next(o for o in offsets if o >= size)
        raise LdcacheError(f"string offset out of range: {bad:#x} in {name}")
    ends = list(map(text.find, repeat("\0", len(offsets)), offsets))
    if -1 in ends:
        raise LdcacheError(f"unterminated string at offset {offsets[ends.index(-1)]:#x} in {name}")
    strings = list(map(text.__getitem__, map(slice, offsets, ends)))
    if not all(map(str.isascii, strings)):
        strings = [s if s.isascii() else s.encode("latin-1").decode("utf-8", "surrogateescape") for s in strings]
    return tuple(map(tuple.__new__, repeat(LdCacheEntry, nlibs), zip(strings[:nlibs], strings[nlibs:], flags)))


def _new_header_offset(data: bytes, name: str) -> int:
    """Where the new-format header starts: 0, or after the old-format part of a compat file."""
    if not data.startswith(OLD_MAGIC):
        return 0
    if len(data) < OLD_HEADER.size:
        raise LdcacheError(f"truncated file: {name}")
    _, nlibs = OLD_HEADER.unpack_from(data, 0)
    offset = OLD_HEADER.size + nlibs * OLD_ENTRY.size
    offset = -(-offset // NEW_HEADER_ALIGN) * NEW_HEADER_ALIGN
    if offset >= len(data):
        # An old-format-only cache (or a truncated compat one): the original reads neither.
        raise LdcacheError(f"unsupported file format: {name}")
    return offset
