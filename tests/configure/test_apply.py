"""configure for real: a process in its own mount namespace, and a runc container whose
prestart hook calls nvc-cli.  Needs root (CI is root)."""

from __future__ import annotations

import os

import pytest

from tests.containers import (
    NamespaceProcess,
    configure_hook,
    make_rootfs,
    mountinfo,
    nvc,
    runc_bundle,
    runc_run,
    tree,
)


@pytest.fixture
def nsproc():  # type: ignore[no-untyped-def]
    p = NamespaceProcess()
    yield p
    p.close()


def test_configure_a_mount_namespace(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, topo = str(sim_driver.root), sim_driver.topology
    rootfs = make_rootfs(tmp_path / "rootfs")
    host_before = mountinfo()
    out = nvc("--root", root, "configure", f"--pid={nsproc.pid}", "--device=1", "--utility", "--compute",
              str(rootfs))
    assert out.returncode == 0, out.stderr
    assert mountinfo() == host_before, "the host's mount table must not change"
    ls = nsproc.run("chroot", str(rootfs), "/bin/ls", "/dev", "/usr/lib/x86_64-linux-gnu", "/usr/bin")
    assert ls.returncode == 0, ls.stderr
    listed = ls.stdout.split()
    assert f"nvidia{topo.gpus[1].minor}" in listed and f"nvidia{topo.gpus[0].minor}" not in listed
    assert "nvidiactl" in listed and "nvidia-uvm" in listed
    assert f"libnvidia-ml.so.{topo.driver_version}" in listed and f"libcuda.so.{topo.driver_version}" in listed
    assert "libcuda.so" in listed and "nvidia-smi" in listed
    # The device node is the host's (bound, not mknod'ed) and mounted with the original's flags.
    st = nsproc.run("stat", "-c", "%t:%T", os.path.join(str(rootfs), f"dev/nvidia{topo.gpus[1].minor}"))
    assert st.stdout.strip() == f"c3:{topo.gpus[1].minor:x}"
    inside = nsproc.run("cat", "/proc/self/mountinfo").stdout
    lib_line = [line for line in inside.splitlines() if f"libcuda.so.{topo.driver_version}" in line][0]
    assert "ro," in lib_line and "nosuid" in lib_line and "nodev" in lib_line
    params = nsproc.run("cat", os.path.join(str(rootfs), "proc/driver/nvidia/params")).stdout
    assert "ModifyDeviceFiles: 0" in params and "ModifyDeviceFiles: 1" not in params
    gpu_dir = f"proc/driver/nvidia/gpus/{topo.gpus[1].proc_bus_id}"
    info = nsproc.run("cat", os.path.join(str(rootfs), gpu_dir, "information"))
    assert topo.gpus[1].uuid in info.stdout
    # The /proc tmpfs is left as the original leaves it: writable, nosuid,nodev,noexec; a write
    # stays in the container's namespace.
    proc_line = [line for line in inside.splitlines() if line.split()[4] == f"{rootfs}/proc/driver/nvidia"][0]
    assert proc_line.split()[5].split(",")[:4] == ["rw", "nosuid", "nodev", "noexec"]
    wr = nsproc.run("sh", "-c", f"echo x > {rootfs}/proc/driver/nvidia/new")
    assert wr.returncode == 0, wr.stderr
    assert not (rootfs / "proc/driver/nvidia/new").exists()


def test_library_api_never_changes_the_callers_namespace(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from nvcontainer import container as conf

    own = os.readlink("/proc/self/ns/mnt")
    rootfs = make_rootfs(tmp_path / "rootfs")
    result = conf.configure(conf.Request(str(rootfs), devices="0", capabilities=["utility"]),
                            pid=nsproc.pid, root=str(sim_driver.root))
    assert result.mounts > 5
    assert os.readlink("/proc/self/ns/mnt") == own
    assert not os.path.exists(os.path.join(str(rootfs), "dev/nvidia0")) or not os.path.ismount(
        os.path.join(str(rootfs), "dev/nvidia0"))


@pytest.mark.parametrize("case", ["unknown-device", "requirement", "dir-target", "readonly-rootfs", "symlink-escape"])
def test_failures_leave_nothing_behind(sim_driver, nsproc, tmp_path, case: str) -> None:  # type: ignore[no-untyped-def]
    root, topo = str(sim_driver.root), sim_driver.topology
    rootfs = make_rootfs(tmp_path / "rootfs")
    args = ["--device=1", "--utility", "--compute"]
    expect = ""
    if case == "unknown-device":
        args = ["--device=42", "--utility"]
        expect = "nvc-cli: device error: 42: unknown device"
    elif case == "requirement":
        args += ["--require=cuda>=13.0"]
        expect = ("nvc-cli: requirement error: unsatisfied condition: cuda>=13.0, please update your driver to a "
                  "newer version, or use an earlier cuda container")
    elif case == "dir-target":
        # A directory where the CUDA library file must go: refused, and what was mounted before is undone.
        (rootfs / f"usr/lib/x86_64-linux-gnu/libcuda.so.{topo.driver_version}").mkdir(parents=True)
        expect = "nvc-cli: mount error: "
    elif case == "readonly-rootfs":
        ro = nsproc.run("mount", "--bind", "-o", "ro", str(rootfs), str(rootfs))
        assert ro.returncode == 0, ro.stderr
        ro = nsproc.run("mount", "-o", "remount,bind,ro", str(rootfs))
        assert ro.returncode == 0, ro.stderr
        expect = "nvc-cli: mount error: "
    elif case == "symlink-escape":
        # /usr/bin in the image points at a host directory: the binaries must land inside the rootfs.
        victim = tmp_path / "host-bin"
        victim.mkdir()
        for entry in (rootfs / "usr/bin").iterdir():
            entry.unlink()
        (rootfs / "usr/bin").rmdir()
        (rootfs / "usr/bin").symlink_to(str(victim))
    before_tree = tree(rootfs)
    before_ns = mountinfo(nsproc.pid)
    before_host = mountinfo()
    out = nvc("--root", root, "configure", f"--pid={nsproc.pid}", *args, str(rootfs))
    assert mountinfo() == before_host
    if case == "symlink-escape":
        assert out.returncode == 0, out.stderr
        assert list((tmp_path / "host-bin").iterdir()) == []
        ls = nsproc.run("ls", os.path.join(str(rootfs), str(victim).lstrip("/")))
        assert "nvidia-smi" in ls.stdout.split()
        return
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(expect), out.stderr
    assert mountinfo(nsproc.pid) == before_ns, "every mount made before the failure is undone"
    assert tree(rootfs) == before_tree, "no placeholder is left behind"


def test_runc_prestart_hook(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root, topo = str(sim_driver.root), sim_driver.topology
    rootfs = tmp_path / "bundle" / "rootfs"
    (tmp_path / "bundle").mkdir()
    hook = configure_hook(tmp_path, ["--root", root, "configure", "--device=1", "--utility", "--compute",
                                     str(rootfs)])
    bundle = runc_bundle(tmp_path / "bundle", ["/bin/sh", "-c", "ls /dev; ls /usr/lib/x86_64-linux-gnu /usr/bin"],
                         hook)
    host_before = mountinfo()
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr + out.stdout
    listed = out.stdout.split()
    assert f"nvidia{topo.gpus[1].minor}" in listed
    assert f"nvidia{topo.gpus[0].minor}" not in listed
    assert f"libnvidia-ml.so.{topo.driver_version}" in listed and "nvidia-smi" in listed
    assert mountinfo() == host_before


def test_runc_hook_failure_stops_the_container(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    (tmp_path / "bundle").mkdir()
    rootfs = tmp_path / "bundle" / "rootfs"
    hook = configure_hook(tmp_path, ["--root", root, "configure", "--device=7,9", "--utility", str(rootfs)])
    bundle = runc_bundle(tmp_path / "bundle", ["/bin/true"], hook)
    out = runc_run(bundle)
    assert out.returncode != 0
    assert "nvc-cli: device error: 9: unknown device" in out.stderr
