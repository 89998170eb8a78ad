"""The Plan is pure data: what a container gets for a request (no root needed)."""

from __future__ import annotations

import json
import os

import pytest

from nvcontainer import container as conf
from nvcontainer.discovery import discover
from nvcontainer.errors import DeviceError, InputError, RequirementError
from tests.containers import make_rootfs, nvc, tree


@pytest.fixture(scope="module")
def driver(sim_driver):  # type: ignore[no-untyped-def]
    return discover(str(sim_driver.root))


def targets(plan, what=None):  # type: ignore[no-untyped-def]
    return [m.target for m in plan.mounts if what is None or m.what == what]


def test_device_1_utility_compute(driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs")
    plan = conf.make_plan(driver, conf.Request(str(rootfs), devices="1", capabilities=["utility", "compute"]))
    devices = targets(plan, "device")
    gpu1 = driver.gpus[1]
    assert devices == ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", gpu1.node.path]
    assert "/dev/nvidia-modeset" not in devices and driver.gpus[0].node.path not in devices
    libs = {os.path.basename(t) for t in targets(plan, "library")}
    caps = {lib.capability for lib in driver.libraries if os.path.basename(lib.path) in libs}
    assert caps == {"utility", "compute"}
    assert all(t.startswith("/usr/lib/x86_64-linux-gnu/") for t in targets(plan, "library"))
    assert targets(plan, "library32") == []
    assert {os.path.basename(t) for t in targets(plan, "binary")} == {
        "nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control", "nvidia-cuda-mps-server"}
    for m in plan.mounts:
        if m.what in ("library", "binary", "firmware"):
            assert m.flags == ("ro", "nodev", "nosuid")
        if m.what == "device":
            assert m.flags == ("ro", "nosuid", "noexec")
    assert gpu1.proc_dir in targets(plan, "proc")
    assert [(s.path, s.target) for s in plan.symlinks] == [("/usr/lib/x86_64-linux-gnu/libcuda.so", "libcuda.so.1")]
    params = [f for t in plan.tmpfs for f in t.files if f.name == "params"][0]
    assert params.substitutions == (("ModifyDeviceFiles: 1", "ModifyDeviceFiles: 0"),)
    assert [(r.major, r.minor) for r in plan.device_rules] == [
        (m.rdev[0], m.rdev[1]) for m in plan.mounts if m.what == "device"]


def test_rhel_layout_and_compat32(driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs", debian=False)
    (rootfs / "usr/lib64").mkdir()
    plan = conf.make_plan(driver, conf.Request(str(rootfs), devices="all",
                                               capabilities=["utility", "compute", "compat32"]))
    assert all(t.startswith("/usr/lib64/") for t in targets(plan, "library"))
    assert targets(plan, "library32") and all(t.startswith("/usr/lib/") for t in targets(plan, "library32"))
    assert [g.node.path for g in driver.gpus] == [t for t in targets(plan, "device") if t[-1].isdigit()
                                                 and t.startswith("/dev/nvidia") and "caps" not in t]


def test_mig_selection_brings_access_files_and_parent(driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs")
    mig = driver.gpus[0].migs[1]
    plan = conf.make_plan(driver, conf.Request(str(rootfs), devices="0:1", capabilities=["utility"]))
    assert driver.gpus[0].node.path in targets(plan, "device")
    assert mig.gi_caps_path in targets(plan, "proc") and mig.ci_caps_path in targets(plan, "proc")
    assert mig.ci_caps_node is not None and mig.ci_caps_node.path in targets(plan, "device")


def test_display_and_graphics(driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs")
    plan = conf.make_plan(driver, conf.Request(str(rootfs), devices="2,3", capabilities=["display"]))
    assert "/dev/nvidia-modeset" in targets(plan, "device")
    assert "/dev/nvidia-uvm" not in targets(plan, "device")
    profile = [t for t in plan.tmpfs if t.target == "/etc/nvidia/nvidia-application-profiles-rc.d"][0]
    mask = (1 << driver.gpus[2].minor) | (1 << driver.gpus[3].minor)
    # NVIDIA's text (hex mask, no newline) and mode
    assert [(f.name, f.content, f.mode) for f in profile.files] == [("10-container.conf", (
        '{ "profiles": [{"name": "_container_", "settings": ["EGLVisibleDGPUDevices", 0xMASK]}], '
        '"rules": [{"pattern": [], "profile": "_container_"}]}').replace("MASK", f"{mask:x}"), 0o555)]
    names = {os.path.basename(t) for t in targets(plan, "library")}
    assert any(n.startswith("libGLX_nvidia.so.") for n in names)
    assert ("/usr/lib/x86_64-linux-gnu/libGLX_indirect.so.0",
            f"libGLX_nvidia.so.{driver.nvrm_version}") in [(s.path, s.target) for s in plan.symlinks]


@pytest.mark.parametrize("request_kwargs,error,message", [
    ({"devices": "9"}, DeviceError, "9: unknown device"),
    ({"devices": "0", "requirements": ["cuda>=99.0"]}, RequirementError,
     "unsatisfied condition: cuda>=99.0, please update your driver to a newer version, "
     "or use an earlier cuda container"),
    ({"devices": "0", "requirements": ["brand=geforce"]}, RequirementError, "unsatisfied condition: brand=geforce"),
])
def test_policy_errors(driver, tmp_path, request_kwargs, error, message) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs")
    with pytest.raises(error) as info:
        conf.make_plan(driver, conf.Request(str(rootfs), **request_kwargs))
    assert info.value.message == message


@pytest.mark.parametrize("rootfs", ["relative/rootfs", "/", ""])
def test_invalid_rootfs(driver, rootfs: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as info:
        conf.make_plan(driver, conf.Request(rootfs))
    assert info.value.line() == "nvc-cli: input error: invalid rootfs directory"


def test_dry_run_prints_json_and_touches_nothing(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs")
    before = tree(rootfs)
    out = nvc("--root", str(sim_driver.root), "configure", "--dry-run", "--device=1", "--utility", "--compute",
              "--pid=1", str(rootfs))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert f"/dev/nvidia{sim_driver.topology.gpus[1].minor}" in [m["target"] for m in data["mounts"]]
    assert data["layout"]["libs_dir"] == "/usr/lib/x86_64-linux-gnu"
    assert tree(rootfs) == before
