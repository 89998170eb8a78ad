"""Driver libraries: walk the ld cache, keep the entries of the component tables, apply the
original's ELF rules (driver-version file name, libnvidia-tls ABI note, compat GL needs
an NVIDIA core library), one file per library name.
"""

from __future__ import annotations

import os

from nvcontainer.discovery import components as c
from nvcontainer.discovery import elf
from nvcontainer.discovery.ldcache import LdCache
from nvcontainer.driver import Library
from nvcontainer.errors import NvcError
from nvcontainer.securepath import join_in_root, resolve_in_root

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple


def _prefix_table(no_glvnd: bool) -> List[Tuple[str, str]]:
    """(prefix, component) in lookup order; glvnd or compat GL libraries, never both."""
    table: List[Tuple[str, str]] = []
    for component, prefixes in c.LIBRARY_COMPONENTS:
        if component == ("graphics_glvnd" if no_glvnd else "graphics_compat"):
            continue
        table.extend((p, component) for p in prefixes)
    return table


def _accept(host_path: str, prefix: str, version: str, want64: bool, log: List[str]) -> bool:
    if not elf.matches_driver_version(host_path, version):
        log.append(f"skipping {host_path}: not of driver version {version}")
        return False
    if prefix not in c.COMPAT_GL_PREFIXES:
        # Most libraries need only their class: read it from the identification bytes, which is
        # ~50x cheaper than a full parse (the parse dominated a container start); libnvidia-tls
        # also its ABI tag, read from the headers without pyelftools (elfscan).
        found = elf.elf_class(host_path)
        if found != (64 if want64 else 32):
            log.append(f"skipping {host_path}: {'not an elf file' if found is None else 'wrong ELF class'}")
            return False
        if prefix == c.TLS_PREFIX:
            try:
                if not elf.tls_abi_ok(host_path):
                    log.append(f"skipping {host_path}: no Linux 2.3.99 ABI tag")
                    return False
            except NvcError as exc:
                log.append(f"skipping {host_path}: {exc.message}")
                return False
        return True
    try:
        info = elf.inspect_elf(host_path)
    except NvcError as exc:
        log.append(f"skipping {host_path}: {exc.message}")
        return False
    if not elf.class_matches(info, want64):
        log.append(f"skipping {host_path}: wrong ELF class")
        return False
    if not elf.needs_nvidia_core(info):
        log.append(f"skipping {host_path}: not an NVIDIA GL library")
        return False
    return True


def find_libraries(root: str, cache: LdCache, arch: int, version: str, *, want64: bool,
                   no_glvnd: bool = False, log: Optional[List[str]] = None,
                   missing_label: str = "library") -> Tuple[Tuple[Library, ...], List[str]]:
    """Libraries of ``arch`` in component order, and warnings for the missing ones."""
    log = log if log is not None else []
    table = _prefix_table(no_glvnd)
    picked: Dict[str, Tuple[str, str]] = {}  # prefix -> (root-relative path, soname key)
    for entry in cache.entries_for_arch(arch):
        for prefix, _component in table:
            if not entry.key.startswith(prefix):
                continue
            try:
                path = resolve_in_root(root, entry.value)
            except NvcError:
                break
            if picked.get(prefix, ("",))[0] == path:
                break
            host = join_in_root(root, path)
            if os.path.isfile(host) and _accept(host, prefix, version, want64, log):
                picked[prefix] = (path, entry.key)
            break
    libs = []
    warnings = []
    for prefix, component in table:
        if prefix in picked:
            path, key = picked[prefix]
            libs.append(Library(
                path=path, host_path=join_in_root(root, path),
                capability=c.COMPONENT_CAPABILITY[component], soname=key, compat32=not want64,
            ))
        elif component not in ("graphics_compat",):
            warnings.append(f"missing {missing_label} {prefix}")
    return tuple(libs), warnings


def find_library(root: str, cache: LdCache, arch: int, soname: str) -> Optional[str]:
    """Host path of the first cache entry named exactly ``soname`` (e.g. libnvidia-ml.so.1)."""
    for entry in cache.entries_for_arch(arch):
        if entry.key == soname:
            try:
                host = join_in_root(root, resolve_in_root(root, entry.value))
            except NvcError:
                continue
            if os.path.isfile(host):
                return host
    return None


def names(libs: Sequence[Library]) -> List[str]:
    return [os.path.basename(lib.path) for lib in libs]
