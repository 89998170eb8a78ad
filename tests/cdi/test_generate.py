"""nvcontainer.cdi.generate: specs built from the Plan, for both simulated layouts and every naming strategy."""

from __future__ import annotations

import os
from typing import Any, Dict

import pytest

from nvcontainer.cdi import CdiError
from nvcontainer.cdi.generate import driver_layout, generate
from nvcontainer.cdi.spec import dump_spec, minimum_version, parse_spec, version_tuple
from nvcontainer.cdi.validate import problems
from nvcontainer.plans import build_plan
from nvcontainer.policy.capabilities import ALL_DRIVER_CAPABILITIES, Capabilities
from nvcontainer.policy.selection import Selection
from tests.cdi.helpers import HOOK_ENV, all_edits, device, driver_of, mount_targets, node_paths

HOOK = "/usr/local/bin/nvc-cdi-hook"
LIB_DIRS = {"debian": "/usr/lib/x86_64-linux-gnu", "rhel": "/usr/lib64"}


@pytest.fixture(scope="module", params=["debian", "rhel"])
def sim(request: pytest.FixtureRequest, build_sim):
    return build_sim(layout=request.param)


@pytest.mark.parametrize("strategy", ["index", "uuid", "type-index"])
def test_every_generated_spec_is_valid(sim, strategy: str) -> None:
    driver = driver_of(sim)
    spec = generate(driver, device_name_strategy=strategy, hook_path=HOOK)
    assert problems(spec) == []
    for fmt in ("yaml", "json"):  # and survives a round trip through both formats
        again = parse_spec(dump_spec(spec, fmt), f"spec.{fmt}")
        assert again == spec and problems(again) == []
    assert spec["cdiVersion"] == "0.5.0" == minimum_version(spec)
    names = [d["name"] for d in spec["devices"]]
    gpus = [g for g in driver.gpus]
    migs = driver.migs
    expected = {
        "index": [str(g.index) for g in gpus] + [f"{m.parent_index}:{m.index}" for m in migs],
        "uuid": [g.uuid for g in gpus] + [m.uuid for m in migs],
        "type-index": [f"gpu{g.index}" for g in gpus] + [f"mig{m.parent_index}:{m.index}" for m in migs],
    }[strategy]
    assert names == expected + ["all"]
    assert len(migs) == 3 and len(gpus) == 8


def test_device_edits_hold_only_that_device(sim) -> None:
    driver = driver_of(sim)
    spec = generate(driver, hook_path=HOOK)
    root = str(sim.root)
    one = device(spec, "1")
    assert one["deviceNodes"] == [{"path": "/dev/nvidia1", "hostPath": f"{root}/dev/nvidia1"}]
    assert mount_targets(one) == [driver.gpus[1].proc_dir] == ["/proc/driver/nvidia/gpus/0000:0f:00.0"]
    mig = driver.gpus[0].migs[1]
    assert mig.gi_caps_node is not None and mig.ci_caps_node is not None
    assert node_paths(device(spec, "0:1")) == ["/dev/nvidia0", mig.gi_caps_node.path, mig.ci_caps_node.path]
    assert mount_targets(device(spec, "0:1"))[-2:] == [mig.gi_caps_path, mig.ci_caps_path]
    everything = node_paths(device(spec, "all"))
    assert [p for p in everything if "nvidia-caps" not in p] == [f"/dev/nvidia{g.minor}" for g in driver.gpus]
    assert len([p for p in everything if "nvidia-caps" in p]) == 2 * len(driver.migs)


def test_common_edits_come_from_the_plan(sim) -> None:
    driver = driver_of(sim)
    spec = generate(driver, hook_path=HOOK)
    common = spec["containerEdits"]
    root = str(sim.root)
    assert common["env"] == ["NVIDIA_VISIBLE_DEVICES=void"]
    assert node_paths(common) == [n.path for n in driver.control_nodes]
    # The same files as the Plan of an empty selection with every capability: no second discovery.
    plan = build_plan(driver, Selection(), Capabilities(ALL_DRIVER_CAPABILITIES), driver_layout(driver))
    plan_sources = [m.source for m in plan.mounts if m.what != "device"]
    spec_sources = [m["hostPath"] for m in common["mounts"] if m["hostPath"].startswith(root + "/")
                    and "/proc/" not in m["hostPath"]]
    assert spec_sources == plan_sources
    by_source = {m["hostPath"]: m for m in common["mounts"]}
    for lib in driver.libraries + driver.libraries32:  # libraries keep their own paths (= host path at /)
        mount = by_source[lib.host_path]
        assert mount["containerPath"] == lib.path and lib.host_path == root + lib.path
        assert mount["options"] == ["ro", "nosuid", "nodev", "bind"]
    for binary in driver.binaries:
        assert by_source[binary.host_path]["containerPath"] == binary.path
    for fw in driver.firmwares:
        assert by_source[fw.host_path]["containerPath"] == fw.path
    for ipc in driver.ipcs:
        assert by_source[ipc.host_path]["options"] == ["nosuid", "nodev", "noexec", "bind"]
    hooks = common["hooks"]
    assert [h["args"][1] for h in hooks] == ["create-symlinks", "update-ldcache"]
    lib_dir = LIB_DIRS[sim.layout]
    assert f"libcuda.so.1::{lib_dir}/libcuda.so" in hooks[0]["args"]
    assert hooks[1]["args"][2:4] == ["--folder", lib_dir]


def test_every_hook_has_an_explicit_env_and_an_absolute_path(sim_driver) -> None:
    spec = generate(driver_of(sim_driver))  # the installed hook, found by default
    hooks = [h for edits in all_edits(spec) for h in edits.get("hooks", [])]
    assert hooks
    for hook in hooks:
        assert hook["env"] == HOOK_ENV
        assert os.path.isabs(hook["path"]) and os.access(hook["path"], os.X_OK)
        assert hook["hookName"] == "createContainer" and hook["args"][0] == "nvc-cdi-hook"


def test_options_no_all_device_kind_and_several_strategies(sim_driver) -> None:
    driver = driver_of(sim_driver)
    spec = generate(driver, device_name_strategy=["index", "uuid"], vendor="example.com", class_="acc.el",
                    all_device=False, hook_path=HOOK)
    names = [d["name"] for d in spec["devices"]]
    assert "all" not in names and names[0] == "0" and driver.gpus[0].uuid in names
    assert len(names) == 2 * (len(driver.gpus) + len(driver.migs))
    assert spec["kind"] == "example.com/acc.el"
    assert spec["cdiVersion"] == "0.6.0"  # a '.' in the class needs 0.6.0
    assert problems(spec) == []


def test_proc_mounts_can_be_left_out_for_runc(sim_driver) -> None:
    spec = generate(driver_of(sim_driver), proc_mounts=False, hook_path=HOOK)
    targets = [t for edits in all_edits(spec) for t in mount_targets(edits)]
    assert targets and not [t for t in targets if t.startswith("/proc")]
    assert problems(spec) == []
    with_proc = generate(driver_of(sim_driver), hook_path=HOOK)  # a simulated driver: /proc is not the kernel's
    proc = [m for m in with_proc["containerEdits"]["mounts"] if m["containerPath"].startswith("/proc")]
    assert proc[0] == {"hostPath": "tmpfs", "containerPath": "/proc/driver", "type": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", "mode=0555"]}
    assert [m["containerPath"] for m in proc[1:]] == [
        "/proc/driver/nvidia/params", "/proc/driver/nvidia/version", "/proc/driver/nvidia/registry"]


@pytest.mark.parametrize("kwargs, message", [
    ({"device_name_strategy": "bogus"}, "invalid device name strategy 'bogus'"),
    ({"vendor": "-bad"}, "invalid vendor '-bad'"),
    ({"class_": "gpu/x"}, "invalid class 'gpu/x'"),
    ({"hook_path": "relative/hook"}, "not an absolute path"),
])
def test_bad_arguments_are_one_line_errors(sim_driver, kwargs: Dict[str, Any], message: str) -> None:
    kwargs.setdefault("hook_path", HOOK)
    with pytest.raises(CdiError) as info:
        generate(driver_of(sim_driver), **kwargs)
    assert message in info.value.message and "\n" not in info.value.line("nvc-ctk")


@pytest.mark.parametrize("change, version", [
    ({}, "0.3.0"),
    ({"mounts": [{"hostPath": "tmpfs", "containerPath": "/x", "type": "tmpfs"}]}, "0.4.0"),
    ({"deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/y"}]}, "0.5.0"),
    ({"additionalGids": [5]}, "0.7.0"),
    ({"intelRdt": {"closID": "a"}}, "0.7.0"),
    ({"intelRdt": {"enableMonitoring": True}}, "1.1.0"),
    ({"netDevices": [{"hostInterfaceName": "eth0", "name": "eth1"}]}, "1.1.0"),
])
def test_minimum_version_rules(change: Dict[str, Any], version: str) -> None:
    edits: Dict[str, Any] = {"env": ["A=b"], **change}
    spec = {"cdiVersion": "1.1.0", "kind": "v.com/c", "devices": [{"name": "dev", "containerEdits": edits}]}
    assert minimum_version(spec) == version
    digit = minimum_version({**spec, "devices": [{"name": "0dev", "containerEdits": edits}]})
    assert version_tuple(digit) == max(version_tuple(version) or (), (0, 5, 0))
    annotated = minimum_version({**spec, "annotations": {"a": "b"}})
    assert version_tuple(annotated) == max(version_tuple(version) or (), (0, 6, 0))
