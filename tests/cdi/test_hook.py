"""nvc-cdi-hook run as a runtime runs it: the installed script, OCI state on stdin, only its own env."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from nvcontainer.cdi.generate import default_hook_path
from tests.containers import make_rootfs, tree

HOOK_ENV = {"NVIDIA_CTK_DEBUG": "false"}


def bundle(tmp_path: Path, glibc: bool = False) -> Path:
    path = tmp_path / "bundle"
    make_rootfs(path / "rootfs", glibc=glibc)
    (path / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "root": {"path": "rootfs"}}))
    return path


def hook(args: List[str], state: Dict[str, object], *, unshare: bool = False) -> subprocess.CompletedProcess:
    argv = [default_hook_path(), *args]
    if unshare:  # a mount namespace of its own, as a createContainer hook has
        argv = ["unshare", "-m", "--propagation", "private", *argv]
    return subprocess.run(argv, input=json.dumps(state), capture_output=True, text=True, env=dict(HOOK_ENV),
                          timeout=120)


def test_create_symlinks(tmp_path: Path) -> None:
    b = bundle(tmp_path)
    out = hook(["create-symlinks", "--link", "libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so",
                "--link", "libfoo.so.1::/usr/lib64/libfoo.so"], {"bundle": str(b), "pid": 1})
    assert out.returncode == 0, out.stderr
    assert os.readlink(b / "rootfs/usr/lib/x86_64-linux-gnu/libcuda.so") == "libcuda.so.1"
    assert os.readlink(b / "rootfs/usr/lib64/libfoo.so") == "libfoo.so.1"
    # Again: kept; a link with another target is replaced; an image's regular file is left alone.
    (b / "rootfs/usr/lib64/libfoo.so").unlink()
    (b / "rootfs/usr/lib64/libfoo.so").symlink_to("old")
    (b / "rootfs/usr/lib64/libbar.so").write_text("image file")
    out = hook(["create-symlinks", "--link", "libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so",
                "--link", "libfoo.so.1::/usr/lib64/libfoo.so", "--link", "x::/usr/lib64/libbar.so"],
               {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    assert os.readlink(b / "rootfs/usr/lib64/libfoo.so") == "libfoo.so.1"
    assert (b / "rootfs/usr/lib64/libbar.so").read_text() == "image file"


@pytest.mark.parametrize("style", ["absolute", "relative", "dotdot", "final-link"])
def test_create_symlinks_never_writes_outside_the_rootfs(tmp_path: Path, style: str) -> None:
    host = tmp_path / "host-dir"  # a directory of the host the image tries to reach
    host.mkdir()
    (host / "keep").write_text("host file")
    before = tree(host)
    b = bundle(tmp_path)
    rootfs = b / "rootfs"
    link = "/usr/lib/x86_64-linux-gnu/libcuda.so"
    if style == "absolute":
        (rootfs / "usr/lib/x86_64-linux-gnu").symlink_to(str(host))
        inside = rootfs / str(host).lstrip("/") / "libcuda.so"
    elif style == "relative":
        (rootfs / "usr/lib/x86_64-linux-gnu").symlink_to("../../" * 10 + str(host).lstrip("/"))
        inside = rootfs / str(host).lstrip("/") / "libcuda.so"
    elif style == "dotdot":
        link = "/../../../../../../.." + str(host) + "/libcuda.so"
        inside = rootfs / str(host).lstrip("/") / "libcuda.so"
    else:  # the link's own name is a symlink to a host file: replace the link, never write through it
        (rootfs / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
        (rootfs / "usr/lib/x86_64-linux-gnu/libcuda.so").symlink_to(str(host / "keep"))
        inside = rootfs / "usr/lib/x86_64-linux-gnu/libcuda.so"
    out = hook(["create-symlinks", "--link", f"libcuda.so.1::{link}"], {"bundle": str(b)})
    assert out.returncode == 0, out.stderr
    assert tree(host) == before and (host / "keep").read_text() == "host file"
    assert os.readlink(inside) == "libcuda.so.1"


def test_update_ldcache_runs_the_sandboxed_ldconfig(tmp_path: Path, sim_driver) -> None:
    b = bundle(tmp_path, glibc=True)
    libdir = b / "rootfs/opt/driver/lib"
    libdir.mkdir(parents=True)
    lib = sim_driver.nvml_library
    (libdir / os.path.basename(lib)).write_bytes(Path(lib).read_bytes())
    cache = b / "rootfs/etc/ld.so.cache"
    assert b"libnvidia-ml.so.1" not in cache.read_bytes()
    out = hook(["update-ldcache", "--folder", "/opt/driver/lib"], {"bundle": str(b), "pid": 1}, unshare=True)
    assert out.returncode == 0, out.stderr
    listing = subprocess.run(["ldconfig", "-p", "-C", str(cache)], capture_output=True, text=True).stdout
    assert "libnvidia-ml.so.1 (libc6,x86-64) => /opt/driver/lib/libnvidia-ml.so.1" in listing
    assert os.readlink(libdir / "libnvidia-ml.so.1") == os.path.basename(lib)


def test_forward_compatible_and_one_line_errors(tmp_path: Path) -> None:
    out = hook(["enable-cuda-compat", "--host-driver-version=550.54.15"], {})
    assert out.returncode == 0 and "unknown hook enable-cuda-compat: ignored" in out.stderr
    b = bundle(tmp_path)
    out = hook(["create-symlinks", "--bogus", "--link", "a::/b"], {"bundle": str(b)})
    assert out.returncode == 0 and "unknown option '--bogus'" in out.stderr
    assert os.readlink(b / "rootfs/b") == "a"
    out = hook(["create-symlinks", "--link", "a::/c"], {"pid": 1})
    assert out.returncode == 1 and out.stderr == "nvc-cdi-hook: cdi error: invalid OCI state: no bundle\n"
    out = hook(["create-symlinks", "--link", "nonsense"], {"bundle": str(b)})
    assert out.returncode == 1
    assert out.stderr == "nvc-cdi-hook: cdi error: invalid link 'nonsense': expected TARGET::LINK\n"


def test_the_hook_does_not_take_code_from_the_working_directory(tmp_path: Path) -> None:
    """createContainer hooks start in the container's rootfs: a module planted there must not load."""
    b = bundle(tmp_path)
    planted = b / "rootfs/nvcontainer"
    planted.mkdir()
    (planted / "__init__.py").write_text("open('/dev/null'); raise SystemExit('planted module ran')\n")
    out = subprocess.run([default_hook_path(), "create-symlinks", "--link", "a::/d"], input=json.dumps(
        {"bundle": str(b)}), capture_output=True, text=True, env=dict(HOOK_ENV), cwd=b / "rootfs")
    assert out.returncode == 0, out.stderr
    assert "planted" not in out.stderr
