"""``print-ldcache``: the libraries a driver root's ld.so.cache lists, 32-bit and 64-bit.

As nvidia-ctk's (1.14-1.16; removed from its 1.17): every ELF entry of the cache, its path followed
through symbolic links to the file, each file once, in cache order; a missing cache is an empty one.
Differences: links are followed inside the root (an absolute link target means the root's file,
not the host's), and "64-bit" and "32-bit" are this machine's native and compat architectures
(nvidia-ctk knew only x86 and ppc64le, so listed nothing on arm64).
"""

from __future__ import annotations

import os

from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

DEFAULT_LDCACHE = "/etc/ld.so.cache"


class Listing(Record):
    path: str  # the cache file read (host path)
    found: bool  # False: no cache there (an empty listing)
    lib32: Tuple[str, ...]
    lib64: Tuple[str, ...]


def _resolve(root: str, value: str) -> Optional[str]:
    from nvcontainer.errors import NvcError
    from nvcontainer.securepath import join_in_root

    try:
        path = join_in_root(root, value)
    except NvcError:
        return None
    return path if os.path.isfile(path) else None


def listing(root: str = "/", ldcache: str = DEFAULT_LDCACHE, machine: Optional[str] = None) -> Listing:
    from nvcontainer.discovery.ldcache import host_arch_flags, read_ldcache

    root = os.path.abspath(root)
    path = os.path.join(root, ldcache.lstrip("/"))
    if not os.path.exists(path):
        return Listing(path, False, (), ())
    cache = read_ldcache(path)
    native, compat = host_arch_flags(machine)
    seen = set()
    by_arch: List[List[str]] = [[], []]
    for entry in cache.entries:
        if not entry.is_elf or entry.arch not in (native, compat):
            continue
        resolved = _resolve(root, entry.value)
        if resolved is None or resolved in seen:
            continue
        seen.add(resolved)
        by_arch[entry.arch == native].append(resolved)
    return Listing(path, True, tuple(by_arch[0]), tuple(by_arch[1]))


def render(result: Listing) -> List[str]:
    """nvidia-ctk's lines (without its log prefix)."""
    lines = []
    for bits, libs in (("32", result.lib32), ("64", result.lib64)):
        if not libs:
            lines.append(f"No {bits}-bit libraries found")
            continue
        lines.append(f"{len(libs)} {bits}-bit libraries found")
        lines.extend(libs)
    return lines
