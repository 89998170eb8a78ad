"""Driver binaries (along PATH inside the root, then the driver's own bin directory), IPC
sockets/pipes and GSP firmware."""

from __future__ import annotations

import os
import stat

from nvcontainer.discovery import components as c
from nvcontainer.discovery.elf import elf_class
from nvcontainer.driver import Binary, Firmware, Ipc
from nvcontainer.errors import NvcError
from nvcontainer.securepath import join_in_root, resolve_in_root

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional, Tuple


def find_binaries(root: str, path_env: Optional[str], warnings: List[str], *,
                  driver_bin_dir: Optional[str] = None) -> Tuple[Binary, ...]:
    """Each driver program found along ``path_env`` (default: the original's PATH), then in
    ``driver_bin_dir``, the ``bin`` beside the driver's library directory (``/usr/local/nvidia/bin``
    for a driver installed under ``/usr/local/nvidia``, a layout the default PATH misses).

    Only ELF files count: hosts with such a layout often put a wrapper script named nvidia-smi in
    /usr/bin that execs the real one by its host path, which does not exist inside a container.
    ``no-persistenced`` / ``no-fabricmanager`` drop only the daemons' sockets (``find_ipcs``), never
    the programs, as in the original."""
    dirs = (path_env if path_env is not None else c.DEFAULT_PATH).split(":")
    if driver_bin_dir and driver_bin_dir not in dirs:
        dirs.append(driver_bin_dir)
    out = []
    for capability, names in c.BINARY_COMPONENTS:
        for name in names:
            found = _search(root, dirs, name, warnings)
            if found is None:
                warnings.append(f"missing binary {name}")
            else:
                out.append(Binary(path=found, host_path=join_in_root(root, found), capability=capability))
    return tuple(out)


def _search(root: str, dirs: List[str], name: str, warnings: List[str]) -> Optional[str]:
    seen = set()
    for d in dirs:
        try:
            # Relative and empty PATH entries count from the root, the cwd of a chrooted search.
            path = resolve_in_root(root, os.path.join("/", d, name))
        except NvcError:
            continue
        host = join_in_root(root, path)
        if path in seen or not os.path.isfile(host):
            continue
        seen.add(path)
        if elf_class(host) is None:
            warnings.append(f"skipping {path}: not an ELF executable")
            continue
        return path
    return None


def find_ipcs(root: str, warnings: List[str], *, no_persistenced: bool = False,
              no_fabricmanager: bool = False, mps_pipe_dir: Optional[str] = None) -> Tuple[Ipc, ...]:
    wanted = []
    if not no_persistenced:
        wanted.append((c.PERSISTENCED_SOCKET, "persistenced", "utility"))
    if not no_fabricmanager:
        wanted.append((c.FABRICMANAGER_SOCKET, "fabricmanager", "utility"))
    wanted.append((mps_pipe_dir or c.MPS_PIPE_DIR, "mps", "compute"))
    out = []
    for path, kind, capability in wanted:
        try:
            resolved = resolve_in_root(root, path)
            st = os.lstat(join_in_root(root, resolved))
        except (NvcError, OSError):
            warnings.append(f"missing ipc path {path}")
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if not (stat.S_ISSOCK(st.st_mode) or is_dir):
            warnings.append(f"skipping ipc path {path}: not a socket or directory")
            continue
        out.append(Ipc(path=resolved, host_path=join_in_root(root, resolved), kind=kind,
                       capability=capability, is_dir=is_dir))
    return tuple(out)


def find_firmwares(root: str, version: str) -> Tuple[Firmware, ...]:
    listed_dir = c.FIRMWARE_DIR.format(version=version)
    try:
        host_dir = join_in_root(root, resolve_in_root(root, listed_dir))
        names = sorted(os.listdir(host_dir))
    except (NvcError, OSError):
        return ()
    out = []
    for name in names:
        if not (name.startswith(c.FIRMWARE_PREFIX) and name.endswith(c.FIRMWARE_SUFFIX)):
            continue
        listed = f"{listed_dir}/{name}"
        try:
            host = join_in_root(root, resolve_in_root(root, listed))
        except NvcError:
            continue
        if os.path.isfile(host) and not os.path.islink(host):
            out.append(Firmware(path=listed, host_path=host))
    return tuple(out)
