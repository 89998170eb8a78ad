"""configure, part two, in a real mount namespace: CUDA forward-compat libraries, MIG config and
monitor capabilities, IMEX channels, the graphics application profile, and the ldconfig step
(refusals and failures undo every mount)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.containers import NamespaceProcess, make_rootfs, mountinfo, nvc, tree

LIBDIR = "/usr/lib/x86_64-linux-gnu"


@pytest.fixture
def nsproc():  # type: ignore[no-untyped-def]
    p = NamespaceProcess()
    yield p
    p.close()


def compat_lib(rootfs: Path, name: str, tmp_path: Path) -> None:
    """A real shared library ``name`` with soname libcuda.so.1 in the image's compat dir."""
    src = tmp_path / "compat.c"
    src.write_text("int cuDriverGetVersion(int *v) { *v = 99990; return 0; }\n")
    compat = rootfs / "usr/local/cuda/compat"
    compat.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(compat / name), str(src)],
                   check=True)


def ldcache_entry(nsproc: NamespaceProcess, rootfs: Path, soname: str) -> str:
    out = subprocess.run(["ldconfig", "-p", "-C", str(rootfs / "etc/ld.so.cache")], capture_output=True, text=True)
    return [line.split("=> ")[1] for line in out.stdout.splitlines() if line.strip().startswith(soname + " ")][0]


@pytest.mark.parametrize("mode", ["mount", "ldconfig", "disabled"])
def test_cuda_compat_modes(sim_driver, nsproc, tmp_path, mode: str) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs", glibc=True)
    compat_lib(rootfs, "libcuda.so.999.1.2", tmp_path)
    compat_lib(rootfs, "libcuda.so.500.1.1", tmp_path)  # older than the driver: never used
    out = nvc("--root", str(sim_driver.root), "configure", f"--pid={nsproc.pid}", "--device=0", "--utility",
              "--compute", f"--cuda-compat-mode={mode}", str(rootfs))
    assert out.returncode == 0, out.stderr
    listing = nsproc.run("ls", str(rootfs) + LIBDIR).stdout.split()
    assert ("libcuda.so.999.1.2" in listing) == (mode == "mount")
    assert "libcuda.so.500.1.1" not in listing
    chosen = ldcache_entry(nsproc, rootfs, "libcuda.so.1")
    expected = {"mount": f"{LIBDIR}/libcuda.so.1", "ldconfig": "/usr/local/cuda/compat/libcuda.so.1",
                "disabled": f"{LIBDIR}/libcuda.so.1"}[mode]
    assert chosen == expected
    link = nsproc.run("readlink", str(rootfs) + chosen).stdout.strip()
    driver = sim_driver.topology.driver_version
    assert link == {"mount": "libcuda.so.999.1.2", "ldconfig": "libcuda.so.999.1.2",
                    "disabled": f"libcuda.so.{driver}"}[mode]


def test_compat_symlink_out_of_the_rootfs_is_not_followed(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs", glibc=True)
    host_lib = tmp_path / "host" / "libcuda.so.999.0.0"
    host_lib.parent.mkdir()
    host_lib.write_bytes(b"host secret")
    compat = rootfs / "usr/local/cuda/compat"
    compat.mkdir(parents=True)
    (compat / "libcuda.so.999.0.0").symlink_to(str(host_lib))  # points at the host, resolved in the rootfs
    out = nvc("--root", str(sim_driver.root), "configure", f"--pid={nsproc.pid}", "--device=0", "--compute",
              str(rootfs))
    assert out.returncode == 0, out.stderr
    assert "libcuda.so.999.0.0" not in nsproc.run("ls", str(rootfs) + LIBDIR).stdout.split()


def test_mig_config_and_monitor(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs", glibc=True)
    out = nvc("--root", str(sim_driver.root), "configure", f"--pid={nsproc.pid}", "--device=0", "--utility",
              "--mig-config=all", "--mig-monitor=all", str(rootfs))
    assert out.returncode == 0, out.stderr
    caps = nsproc.run("ls", f"{rootfs}/proc/driver/nvidia/capabilities/mig").stdout.split()
    assert caps == ["config", "monitor"]
    nodes = nsproc.run("ls", f"{rootfs}/dev/nvidia-caps").stdout.split()
    assert "nvidia-cap1" in nodes and "nvidia-cap2" in nodes


def test_mig_config_refused_with_specific_migs(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs", glibc=True)
    out = nvc("--root", str(sim_driver.root), "configure", f"--pid={nsproc.pid}", "--device=0:1",
              "--mig-config=all", str(rootfs))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "nvc-cli: mig-config error: all: cannot enable mig-config with specific MIG devices selected"]


def test_imex_channel(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs", glibc=True)
    out = nvc("--root", str(sim_driver.root), "configure", f"--pid={nsproc.pid}", "--imex-channel=0",
              str(rootfs))
    assert out.returncode == 0, out.stderr
    st = nsproc.run("stat", "-c", "%F", f"{rootfs}/dev/nvidia-caps-imex-channels/channel0")
    assert st.stdout.strip() == "character special file"


def test_graphics_application_profile(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs", glibc=True)
    out = nvc("--root", str(sim_driver.root), "configure", f"--pid={nsproc.pid}", "--device=3", "--graphics",
              str(rootfs))
    assert out.returncode == 0, out.stderr
    text = nsproc.run("cat", f"{rootfs}/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf").stdout
    minor = sim_driver.topology.gpus[3].minor
    assert f'"EGLVisibleDGPUDevices", {1 << minor:#x}]' in text


@pytest.mark.parametrize("case", ["no-etc", "container-ldconfig"])
def test_ldconfig_problems_undo_the_mounts(sim_driver, nsproc, tmp_path, case: str) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs")
    args = []
    if case == "no-etc":
        for entry in (rootfs / "etc").iterdir():
            entry.unlink()
        (rootfs / "etc").rmdir()
        expect = "nvc-cli: ldcache error: process ldconfig failed with error code: 1"
    else:
        marker = tmp_path / "pwned"
        (rootfs / "sbin/ldconfig").write_text(f"#!/bin/sh\ntouch {marker}\n")
        (rootfs / "sbin/ldconfig").chmod(0o755)
        args = ["--ldconfig=/sbin/ldconfig"]
        expect = "nvc-cli: ldcache error: refusing to run the container's ldconfig /sbin/ldconfig"
    before_ns, before_tree = mountinfo(nsproc.pid), tree(rootfs)
    out = nvc("--root", str(sim_driver.root), "configure", f"--pid={nsproc.pid}", "--device=0", "--utility",
              *args, str(rootfs))
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(expect), out.stderr
    assert mountinfo(nsproc.pid) == before_ns
    assert tree(rootfs) == before_tree
    if case == "container-ldconfig":
        assert not os.path.exists(tmp_path / "pwned")
