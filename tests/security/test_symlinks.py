"""Family 1: symlink escapes at every place configure writes or mounts.

Each case plants links in the image (absolute, relative, climbing far above the root, chains,
loops) at a directory or file configure creates, mounts on or reads; configure must either
succeed with every mount inside the rootfs, or fail cleanly, and nothing on the host may change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict

import pytest

from tests.security.harness import LIBDIR, Arena, deep_up, relink

Plant = Callable[[Arena], None]


def _lib(a: Arena) -> Path:
    return a.rootfs / LIBDIR.lstrip("/")


def _compat_file(a: Arena, target: str) -> None:
    compat = a.rootfs / "usr/local/cuda/compat"
    compat.mkdir(parents=True, exist_ok=True)
    (compat / "libcuda.so.999.0.0").symlink_to(target)


CASES: Dict[str, Plant] = {
    # library directories
    "libdir-absolute": lambda a: relink(_lib(a), str(a.host / "lib")),
    "libdir-relative-deep": lambda a: relink(_lib(a), deep_up() + str(a.host / "lib").lstrip("/")),
    "libdir-dotdot-absolute": lambda a: relink(_lib(a), "/../../../../.." + str(a.host / "lib")),
    "lib64-relative-etc": lambda a: (os.unlink(a.rootfs / "etc/debian_version"),
                                     relink(a.rootfs / "usr/lib64", "../../../../etc")),
    "lib64-deep-real-etc": lambda a: (os.unlink(a.rootfs / "etc/debian_version"),
                                      relink(a.rootfs / "usr/lib64", deep_up() + "etc")),
    "lib32-absolute": lambda a: relink(a.rootfs / "usr/lib/i386-linux-gnu", str(a.host / "lib")),
    "usr-absolute": lambda a: relink(a.rootfs / "usr", str(a.host)),
    "usr-lib-chain": lambda a: (relink(_lib(a), "/hop1"), relink(a.rootfs / "hop1", "../hop2"),
                                relink(a.rootfs / "hop2", str(a.host / "lib"))),
    "libdir-loop": lambda a: (relink(_lib(a), "loop-a"), relink(a.rootfs / "usr/lib/loop-a", "loop-b"),
                              relink(a.rootfs / "usr/lib/loop-b", "loop-a")),
    "lib-file-to-host": lambda a: relink(_lib(a) / f"libcuda.so.{a.version}", str(a.host / "lib/libhost.so.1")),
    "lib-file-to-real-passwd": lambda a: relink(_lib(a) / f"libnvidia-ml.so.{a.version}",
                                                deep_up() + "etc/passwd"),
    "soname-link-to-host": lambda a: relink(_lib(a) / "libcuda.so", str(a.host / "lib/libhost.so.1")),
    # binaries
    "usr-bin-absolute": lambda a: relink(a.rootfs / "usr/bin", str(a.host / "bin")),
    "usr-bin-relative-deep": lambda a: relink(a.rootfs / "usr/bin", deep_up() + str(a.host / "bin").lstrip("/")),
    "usr-bin-real-host": lambda a: relink(a.rootfs / "usr/bin", "/usr/bin/../../" + deep_up(4) + "usr/bin"),
    "bin-file-to-host": lambda a: relink(a.rootfs / "usr/bin/nvidia-smi", str(a.host / "bin/tool")),
    # device nodes
    "dev-absolute": lambda a: relink(a.rootfs / "dev", str(a.host / "dev")),
    "dev-real-dev": lambda a: relink(a.rootfs / "dev", deep_up() + "dev"),
    "dev-self-loop": lambda a: relink(a.rootfs / "dev", "/dev"),
    "dev-node-to-host": lambda a: relink(a.rootfs / "dev/nvidia0", str(a.host / "dev/nvidia0")),
    "dev-nvidia-caps": lambda a: relink(a.rootfs / "dev/nvidia-caps", str(a.host / "dev")),
    "dev-nvidia-caps-deep": lambda a: relink(a.rootfs / "dev/nvidia-caps", deep_up() + "dev"),
    # procfs entries
    "proc-driver": lambda a: relink(a.rootfs / "proc/driver", str(a.host / "proc")),
    "proc-driver-nvidia": lambda a: relink(a.rootfs / "proc/driver/nvidia", str(a.host / "proc")),
    "proc-absolute": lambda a: relink(a.rootfs / "proc", str(a.host / "proc")),
    # ldconfig's files
    "ld-so-conf-d": lambda a: relink(a.rootfs / "etc/ld.so.conf.d", str(a.host / "etc/ld.so.conf.d")),
    "ld-so-cache": lambda a: relink(a.rootfs / "etc/ld.so.cache", str(a.host / "etc/ld.so.cache")),
    "ld-so-cache-deep": lambda a: relink(a.rootfs / "etc/ld.so.cache", deep_up() + str(a.host / "etc/ld.so.cache")),
    "etc-absolute": lambda a: relink(a.rootfs / "etc", str(a.host / "etc")),
    "etc-into-mps-dir": lambda a: relink(a.rootfs / "etc", "/tmp/nvidia-mps"),
    "etc-into-dev": lambda a: relink(a.rootfs / "etc", "/dev"),
    # firmware
    "firmware-version-dir": lambda a: relink(a.rootfs / f"lib/firmware/nvidia/{a.version}", str(a.host / "firmware")),
    "firmware-toolkit-e2e": lambda a: relink(a.rootfs / f"lib/firmware/nvidia/{a.version}",
                                             "/../../../../../../../../" + str(a.host / "firmware").lstrip("/")),
    "firmware-lib": lambda a: relink(a.rootfs / "lib", deep_up() + str(a.host).lstrip("/")),
    # the MPS pipe directory and sockets
    "mps-dir": lambda a: relink(a.rootfs / "tmp/nvidia-mps", str(a.host / "mps")),
    "mps-tmp": lambda a: relink(a.rootfs / "tmp", str(a.host)),
    # into a host directory configure itself mounts read-write (the MPS pipe dir, /dev/nvidia-caps):
    # what is made after that mount must not land in the host's directory
    "dev-into-mps-dir": lambda a: relink(a.rootfs / "dev", "/tmp/nvidia-mps"),
    "dev-into-mps-dir-relative": lambda a: relink(a.rootfs / "dev", "../tmp/nvidia-mps"),
    "libdir-into-mps-dir": lambda a: relink(_lib(a), "/tmp/nvidia-mps"),
    "libdir-into-mps-subdir": lambda a: relink(_lib(a), "/tmp/nvidia-mps/sub/dir"),
    "proc-into-mps-dir": lambda a: relink(a.rootfs / "proc", "/tmp/nvidia-mps"),
    "proc-driver-into-mps-dir": lambda a: relink(a.rootfs / "proc/driver", deep_up() + "tmp/nvidia-mps"),
    "libdir-into-caps-dir": lambda a: relink(_lib(a), "/dev/nvidia-caps"),
    "dev-imex-into-caps-dir": lambda a: relink(a.rootfs / "dev/nvidia-caps-imex-channels", "/dev/nvidia-caps"),
    "usr-bin-into-mps-dir": lambda a: relink(a.rootfs / "usr/bin", "/tmp/nvidia-mps"),
    "firmware-into-mps-dir": lambda a: relink(a.rootfs / f"lib/firmware/nvidia/{a.version}", "/tmp/nvidia-mps"),
    "persistenced-dir": lambda a: relink(a.rootfs / "var/run", deep_up() + str(a.host).lstrip("/")),
    "app-profile-dir": lambda a: relink(a.rootfs / "etc/nvidia", str(a.host / "etc")),
    # CUDA compat libraries from the image (CVE-2025-23359)
    "compat-lib-absolute": lambda a: _compat_file(a, str(a.host / "cuda-compat/libcuda.so.999.0.0")),
    "compat-lib-deep": lambda a: _compat_file(
        a, deep_up() + str(a.host / "cuda-compat/libcuda.so.999.0.0").lstrip("/")),
    "compat-dir": lambda a: relink(a.rootfs / "usr/local/cuda/compat", str(a.host / "cuda-compat")),
    "compat-cuda-dir": lambda a: relink(a.rootfs / "usr/local/cuda", deep_up() + str(a.host).lstrip("/")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_symlink_escape(arena: Arena, case: str) -> None:
    CASES[case](arena)
    arena.attack(case, mig_config="all", mig_monitor="all", cuda_compat_mode="mount")


@pytest.mark.parametrize("mode", ["ldconfig", "mount"])
def test_compat_dir_cli(arena: Arena, mode: str) -> None:
    """The compat dir planted through the CLI (both compat modes): a clean result either way."""
    relink(arena.rootfs / "usr/local/cuda/compat", str(arena.host / "cuda-compat"))
    arena.attack(f"compat-dir-cli-{mode}", cli=["--device=0", "--utility", "--compute",
                                                f"--cuda-compat-mode={mode}"])
