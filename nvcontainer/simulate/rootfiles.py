"""Everything in a simulated driver root that is neither compiled nor under ``proc``/``dev``.

``etc/`` (ld.so.conf and its include directory, the distribution release file), GSP firmware
under ``lib/firmware/nvidia/<version>/`` and the IPC endpoints: the persistenced socket (a real
AF_UNIX socket inode), optionally the fabricmanager socket, and the MPS pipe directory.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Dict

from nvcontainer.simulate.catalog import COMPUTE_BINARIES, UTILITY_BINARIES
from nvcontainer.simulate.layout import DECOY_DIR, Layout
from nvcontainer.simulate.topology import Topology

FIRMWARE_FILES = ("gsp_ga10x.bin", "gsp_tu10x.bin")
FIRMWARE_SIZE = 4096
PERSISTENCED_SOCKET = "/var/run/nvidia-persistenced/socket"
FABRICMANAGER_SOCKET = "/var/run/nvidia-fabricmanager/socket"
MPS_PIPE_DIR = "/tmp/nvidia-mps"


def ld_so_conf_files(layout: Layout) -> Dict[str, str]:
    """Root-relative path -> content; the decoy directory is listed last."""
    if layout.name == "debian":
        return {
            "/etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n\n",
            "/etc/ld.so.conf.d/i386-linux-gnu.conf": f"# Multiarch support\n{layout.lib32_dir}\n",
            "/etc/ld.so.conf.d/x86_64-linux-gnu.conf": f"# Multiarch support\n{layout.lib_dir}\n",
            "/etc/ld.so.conf.d/zz-nvidia-legacy.conf": f"{DECOY_DIR}\n",
        }
    if layout.name == "prefix":
        return {
            "/etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n",
            "/etc/ld.so.conf.d/000-nvidia.conf": f"{layout.lib_dir}\n{layout.lib32_dir}\n",
            "/etc/ld.so.conf.d/zz-nvidia-legacy.conf": f"{DECOY_DIR}\n",
        }
    return {
        "/etc/ld.so.conf": "include ld.so.conf.d/*.conf\n",
        "/etc/ld.so.conf.d/lib64.conf": f"{layout.lib_dir}\n{layout.lib32_dir}\n",
        "/etc/ld.so.conf.d/zz-nvidia-legacy.conf": f"{DECOY_DIR}\n",
    }


def write_wrappers(root: Path, layout: Layout) -> None:
    """A shell script per driver program in ``layout.wrapper_dir`` that execs the real program by
    its absolute prefix path, as GPU sandboxes write them (useless inside a container)."""
    wrappers = root / layout.wrapper_dir.lstrip("/")
    wrappers.mkdir(parents=True, exist_ok=True)
    for name in ("nvidia-smi",) + UTILITY_BINARIES + COMPUTE_BINARIES:
        script = wrappers / name
        script.write_text(f"#!/bin/sh\nexport LD_LIBRARY_PATH={layout.lib_dir}\n"
                          f"exec {layout.bin_dir}/{name} \"$@\"\n")
        os.chmod(script, 0o755)


def firmware_bytes(driver_version: str, name: str) -> bytes:
    """Deterministic pseudo-random content (a SHA-256 chain)."""
    out = bytearray()
    block = f"{driver_version}/{name}".encode()
    while len(out) < FIRMWARE_SIZE:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:FIRMWARE_SIZE])


def _make_socket(path: Path) -> None:
    """Leave an AF_UNIX socket inode at path (bound through /proc/self/fd: no 108-byte limit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(f"/proc/self/fd/{dir_fd}/{path.name}")
    finally:
        os.close(dir_fd)


def write_root_files(root: Path, topology: Topology, layout: Layout) -> None:
    for rel, text in ld_so_conf_files(layout).items():
        path = root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    release = root / layout.release_file.lstrip("/")
    release.write_text(layout.release_text)
    firmware = root / "lib/firmware/nvidia" / topology.driver_version
    firmware.mkdir(parents=True, exist_ok=True)
    for name in FIRMWARE_FILES:
        (firmware / name).write_bytes(firmware_bytes(topology.driver_version, name))
    _make_socket(root / PERSISTENCED_SOCKET.lstrip("/"))
    if topology.fabricmanager:
        _make_socket(root / FABRICMANAGER_SOCKET.lstrip("/"))
    mps = root / MPS_PIPE_DIR.lstrip("/")
    mps.mkdir(parents=True, exist_ok=True)
    if layout.wrapper_dir:
        write_wrappers(root, layout)
    os.chmod(root / "tmp", 0o1777)
