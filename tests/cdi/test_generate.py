"""nvcontainer.cdi.generate against NVIDIA's behaviour written down as data.

``data/nvidia-ctk-1.20/*.yaml`` hold what nvidia-ctk 1.20 ``cdi generate`` writes for the simulated
roots (its lookup rules applied to each root's files; see the comment at the top of each file):
device names by index and UUID, no whole-GPU device for a GPU in MIG mode, MIG devices with the
parent's node and the GI/CI cap nodes, no /proc mounts, the six hooks with their argv, library
mounts ``[ro, nosuid, nodev, rbind, rprivate]``, device nodes with major/minor/fileMode/permissions,
``NVIDIA_CTK_LIBCUDA_DIR``, 42 mounts on the 2-GPU preset.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nvcontainer.cdi import CdiError
from nvcontainer.cdi.generate import generate
from nvcontainer.cdi.spec import dump_spec, minimum_version, parse_spec, version_tuple
from nvcontainer.cdi.validate import problems
from nvcontainer.discovery import discover
from tests.cdi.helpers import all_edits, device, driver_of, mount_targets

DATA = Path(__file__).parent / "data" / "nvidia-ctk-1.20"
NVIDIA_HOOK = "/usr/bin/nvidia-cdi-hook"
CASES = {  # data file -> (preset, layout, mode)
    "dgx-h100-2-debian": ("dgx-h100-2", "debian", "nvml"),
    "dgx-h100-2-rhel": ("dgx-h100-2", "rhel", "nvml"),
    "dgx-a100-debian": ("dgx-a100", "debian", "nvml"),
    "dgx-h100-2-debian-management": ("dgx-h100-2", "debian", "management"),
}


def expected(name: str, root: Path) -> Dict[str, Any]:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text().replace("@DRIVER_ROOT@", str(root)))


def nvidia_like(driver: Any, **kwargs: Any) -> Dict[str, Any]:
    """Our spec with NVIDIA's hook path and without our simulated-/proc hook, as NVIDIA's would be."""
    return generate(driver, hook_path=NVIDIA_HOOK, driver_proc=False, **kwargs)


@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_is_nvidias(case: str, build_sim) -> None:
    preset, layout, mode = CASES[case]
    sim = build_sim(preset=preset, layout=layout)
    assert nvidia_like(driver_of(sim), mode=mode) == expected(case, sim.root)


def test_the_points_of_the_parity_issue(build_sim) -> None:
    """The issue's points 7-10, spelled out on the data (so that a change of the data shows here)."""
    h100 = build_sim(preset="dgx-h100-2")
    spec = expected("dgx-h100-2-debian", h100.root)
    gpus = h100.topology.gpus
    assert [d["name"] for d in spec["devices"]] == ["0", "1", gpus[0].uuid, gpus[1].uuid, "all"]
    common = spec["containerEdits"]
    assert len(common["mounts"]) == 42
    assert {tuple(m["options"]) for m in common["mounts"]} == {
        ("ro", "nosuid", "nodev", "rbind", "rprivate"), ("nosuid", "nodev", "rbind", "rprivate", "noexec")}
    targets = [t for edits in all_edits(spec) for t in mount_targets(edits)]
    assert not [t for t in targets if t.startswith(("/proc", "/tmp", "/usr/lib/i386"))]
    assert "/usr/lib/x86_64-linux-gnu/libEGL.so.570.124.06" in targets
    assert [h["args"][1] for h in common["hooks"]] == [
        "create-symlinks", "create-symlinks", "enable-cuda-compat", "update-ldcache",
        "disable-device-node-modification", "update-application-profile"]
    links = [a for h in common["hooks"][:2] for a in h["args"][2:] if a != "--link"]
    lib = "/usr/lib/x86_64-linux-gnu"
    for link in (f"libcuda.so.1::{lib}/libcuda.so", f"libnvidia-opticalflow.so.1::{lib}/libnvidia-opticalflow.so",
                 f"libGLX_nvidia.so.570.124.06::{lib}/libGLX_indirect.so.0",
                 f"../libnvidia-allocator.so.1::{lib}/gbm/nvidia-drm_gbm.so",
                 f"libcuda.so.570.124.06::{lib}/libcuda.so.1"):
        assert link in links
    assert common["hooks"][2]["args"][2:] == ["--host-driver-version=570.124.06"]
    assert common["hooks"][3]["args"][2:] == ["--folder", lib]
    assert "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu" in common["env"]
    assert device(spec, "1")["deviceNodes"] == [{"path": "/dev/nvidia1", "hostPath": f"{h100.root}/dev/nvidia1",
                                                 "major": 195, "minor": 1, "fileMode": 0o666, "permissions": "rwm"}]
    a100 = build_sim()
    mig_spec = expected("dgx-a100-debian", a100.root)
    names = [d["name"] for d in mig_spec["devices"]]
    assert "0" not in names and a100.topology.gpus[0].uuid not in names  # GPU 0 is in MIG mode
    assert ["0:0", "0:1", "0:2"] == names[:3] and a100.topology.gpus[0].migs[0].uuid in names
    assert [n["path"] for n in device(mig_spec, "0:0")["deviceNodes"]] == [
        "/dev/nvidia0", "/dev/nvidia-caps/nvidia-cap12", "/dev/nvidia-caps/nvidia-cap13"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_yaml_reads_back_as_the_same_document(case: str, build_sim) -> None:
    preset, layout, mode = CASES[case]
    spec = generate(driver_of(build_sim(preset=preset, layout=layout)), mode=mode)
    assert problems(spec) == []  # the full check, jsonschema included
    text = dump_spec(spec, "yaml")
    assert yaml.safe_load(text) == spec and parse_spec(text, "spec.yaml") == spec
    assert parse_spec(dump_spec(spec, "json"), "spec.json") == spec


# nvidia-ctk's own expected output (cmd/nvidia-ctk/cdi/generate/generate_test.go, case "default"),
# with its driver root written as /driver: our emitter must lay the same document out the same way.
NVIDIA_DEFAULT_TEXT = """---
cdiVersion: 0.5.0
kind: example.com/device
devices:
    - name: "0"
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
              hostPath: /driver/dev/nvidia0
    - name: all
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
              hostPath: /driver/dev/nvidia0
containerEdits:
    env:
        - NVIDIA_CTK_LIBCUDA_DIR=/lib/x86_64-linux-gnu
        - NVIDIA_VISIBLE_DEVICES=void
    deviceNodes:
        - path: /dev/nvidiactl
          hostPath: /driver/dev/nvidiactl
    hooks:
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - create-symlinks
            - --link
            - libcuda.so.1::/lib/x86_64-linux-gnu/libcuda.so
          env:
            - NVIDIA_CTK_DEBUG=false
        - hookName: createContainer
          path: /usr/bin/nvidia-cdi-hook
          args:
            - nvidia-cdi-hook
            - enable-cuda-compat
            - --host-driver-version=999.88.77
          env:
            - NVIDIA_CTK_DEBUG=false
    mounts:
        - hostPath: /driver/lib/x86_64-linux-gnu/libcuda.so.999.88.77
          containerPath: /lib/x86_64-linux-gnu/libcuda.so.999.88.77
          options:
            - ro
            - nosuid
            - nodev
            - rbind
            - rprivate
"""


def test_emitter_lays_out_yaml_as_nvidias_tools() -> None:
    document = yaml.safe_load(NVIDIA_DEFAULT_TEXT)
    assert dump_spec(document, "yaml") == NVIDIA_DEFAULT_TEXT


@pytest.mark.parametrize("value", [
    "0", "1:0", "0:0", "yes", "No", "on", "OFF", "~", "null", "", " lead", "trail ", "a: b", "#x", "- x", "-", "--x",
    "0x1F", "0o17", "017", "1e3", "1_000", ".5", "12.4", "-.inf", ".NaN", "2001-12-14", "<<", "=", "a\nb", "tab\t",
    "é", "\u2028", "\U0001F600", "\x00\x07", "'", '"', "\\", "{a}", "[a]", "*a", "&a", "!a", "%a", "@a", "`a", "|", ">",
    "---", "...", "a #b", "a:", "key: value", "550.54.15", "0.5.0",
])
def test_emitter_quotes_whatever_a_reader_would_take_for_something_else(value: str) -> None:
    document = {"kind": value, "devices": [value, {value or "e": value}, [value]], value or "k": {"x": [value]}}
    assert yaml.safe_load(dump_spec(document, "yaml")) == document


_SPECIALISH = st.text(alphabet="0123456789_+-.:~<=eEyYsSnNoOtTrRuUfFaAlLbBxXcdDiI/ -", max_size=12)


@settings(max_examples=3000, deadline=None, database=None)
@given(st.one_of(_SPECIALISH, st.from_regex(r"[0-9]{4}-[0-9]{1,3}-[0-9]{0,2}.{0,3}", fullmatch=True),
                 st.sampled_from(["0", "00", "08", "017", "0b1", "0x1F", "1:20", "1:20.5", "+.inf", ".nan", "--x",
                                  "0.5.0", "1e3", "1_000", "12.4", "-", "+", "."])))
def test_special_scalars_are_judged_as_the_full_pattern_judges(text: str) -> None:
    """The emitter's cheap checks and SPECIAL, the pattern they stand for, agree on every string."""
    import re

    from nvcontainer.cdi import yamlemit

    assert yamlemit.is_special(text) == (re.match(yamlemit.SPECIAL, text) is not None), text


def test_dev_root_without_nodes_is_refused_as_nvidia_does(build_sim, tmp_path: Path) -> None:
    sim = build_sim(preset="dgx-h100-2")
    dev_root = tmp_path / "devroot"
    shutil.copytree(sim.root / "proc", dev_root / "proc", symlinks=True)  # the driver's /proc, no /dev
    driver = discover(str(sim.root), dev_root=str(dev_root))
    with pytest.raises(CdiError) as info:
        generate(driver, hook_path=NVIDIA_HOOK)
    assert "invalid device, empty device edits" in info.value.message  # nvidia-ctk's words (pkg/cdi)
    assert info.value.message.startswith("invalid device '0'")


# nvidia-ctk's disableHooks test cases (generate_test.go): the hooks left, by name.
DISABLED_HOOKS = [
    ([], ["create-symlinks", "create-symlinks", "enable-cuda-compat", "update-ldcache",
          "disable-device-node-modification", "update-application-profile"]),
    (["enable-cuda-compat"], ["create-symlinks", "create-symlinks", "update-ldcache",
                              "disable-device-node-modification", "update-application-profile"]),
    (["enable-cuda-compat", "update-ldcache"], ["create-symlinks", "create-symlinks",
                                                "disable-device-node-modification", "update-application-profile"]),
    (["all"], []),
]


@pytest.mark.parametrize("disabled, left", DISABLED_HOOKS)
def test_disable_hook(disabled: List[str], left: List[str], sim_driver) -> None:
    spec = nvidia_like(driver_of(sim_driver), disabled_hooks=disabled)
    assert [h["args"][1] for h in spec["containerEdits"].get("hooks", [])] == left


def test_enable_hook_and_ldconfig_path(sim_driver) -> None:
    spec = nvidia_like(driver_of(sim_driver), disabled_hooks=["all"], enabled_hooks=["update-ldcache"],
                       ldconfig_path="/sbin/ldconfig.real")
    [hook] = spec["containerEdits"]["hooks"]
    assert hook["args"] == ["nvidia-cdi-hook", "update-ldcache", "--ldconfig-path", "/sbin/ldconfig.real",
                            "--folder", "/usr/lib/x86_64-linux-gnu"]
    with pytest.raises(CdiError, match="enabling all hooks is not supported"):
        nvidia_like(driver_of(sim_driver), enabled_hooks=["all"])
    ctk = generate(driver_of(sim_driver), hook_path="/usr/local/bin/nvidia-ctk", driver_proc=False)
    assert ctk["containerEdits"]["hooks"][0]["args"][:3] == ["nvidia-ctk", "hook", "create-symlinks"]


def test_device_ids_and_none(sim_driver) -> None:
    driver = driver_of(sim_driver)
    spec = nvidia_like(driver, device_ids=["2", driver.gpus[3].uuid, "0:1"])
    uuids = sorted([driver.migs[1].uuid, driver.gpus[2].uuid, driver.gpus[3].uuid])  # GPU-... before MIG-...
    assert [d["name"] for d in spec["devices"]] == ["0:1", "2", "3", *uuids, "all"]
    assert uuids[-1] == driver.migs[1].uuid
    mig_gpu = nvidia_like(driver, device_ids=["0"], device_name_strategy="index", all_device=False)
    assert [d["name"] for d in mig_gpu["devices"]] == ["0"]  # asked for by id: the full GPU, MIG mode or not
    none = nvidia_like(driver, device_ids=["none"])
    assert none["devices"] == [{"name": "none", "containerEdits": {"env": ["NVCT_EMPTY_DEVICE="]}}]
    for bad, message in (("9", "unknown device '9'"), ("gpu", "not a valid UUID or index: 'gpu'")):
        with pytest.raises(CdiError, match=message):
            nvidia_like(driver, device_ids=[bad])


def test_strategies(sim_driver) -> None:
    driver = driver_of(sim_driver)
    spec = nvidia_like(driver, device_name_strategy=["type-index"], vendor="example.com", class_="acc.el",
                       all_device=False)
    assert [d["name"] for d in spec["devices"]] == [f"gpu{i}" for i in range(1, 8)] + ["mig0:0", "mig0:1", "mig0:2"]
    assert spec["kind"] == "example.com/acc.el" and spec["cdiVersion"] == "0.6.0"  # '.' in the class
    assert problems(spec) == []


@pytest.mark.parametrize("mode, message", [
    ("csv", "mode 'csv' is not supported"), ("wsl", "mode 'wsl' is not supported"),
    ("gds", "mode 'gds' is not supported by nvc-ctk"), ("bogus", "invalid discovery mode 'bogus'")])
def test_modes_refused_clearly(mode: str, message: str, sim_driver) -> None:
    with pytest.raises(CdiError, match=message):
        nvidia_like(driver_of(sim_driver), mode=mode)


def test_library_search_path(build_sim) -> None:
    sim = build_sim(preset="dgx-h100-2")
    driver = driver_of(sim)
    same = nvidia_like(driver, library_search_paths=[f"{sim.root}/usr/lib/x86_64-linux-gnu"])
    assert same == expected("dgx-h100-2-debian", sim.root)
    elsewhere = nvidia_like(driver, library_search_paths=[f"{sim.root}/usr/lib/i386-linux-gnu"])
    assert "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/i386-linux-gnu" in elsewhere["containerEdits"]["env"]
    assert {os.path.dirname(t) for t in mount_targets(elsewhere["containerEdits"]) if "/lib" in t and ".so" in t} == {
        "/usr/lib/i386-linux-gnu"}


def test_our_extras_are_options(sim_driver) -> None:
    driver = driver_of(sim_driver)
    base = nvidia_like(driver)
    extra = nvidia_like(driver, compat32=True, mps_dir=True)
    added = [m for m in extra["containerEdits"]["mounts"] if m not in base["containerEdits"]["mounts"]]
    assert {os.path.dirname(m["containerPath"]) for m in added} == {"/usr/lib/i386-linux-gnu", "/tmp"}
    assert ["/tmp/nvidia-mps"] == [m["containerPath"] for m in added if m["containerPath"].startswith("/tmp")]
    folders = [h for h in extra["containerEdits"]["hooks"] if h["args"][1] == "update-ldcache"][0]["args"][2:]
    assert folders == ["--folder", "/usr/lib/x86_64-linux-gnu", "--folder", "/usr/lib/i386-linux-gnu"]
    # A simulated root gets our mount-driver-proc hook by default, first, naming its /proc/driver/nvidia.
    default = generate(driver, hook_path=NVIDIA_HOOK)
    first = default["containerEdits"]["hooks"][0]
    assert first["args"] == ["nvidia-cdi-hook", "mount-driver-proc", "--source",
                             f"{sim_driver.root}/proc/driver/nvidia"]
    assert default["containerEdits"]["hooks"][1:] == base["containerEdits"]["hooks"]


@pytest.mark.parametrize("kwargs, message", [
    ({"device_name_strategy": "bogus"}, "invalid device name strategy 'bogus'"),
    ({"vendor": "-bad"}, "invalid CDI vendor name: invalid vendor '-bad'"),
    ({"class_": "gpu/x"}, "invalid CDI class name: invalid class 'gpu/x'"),
    ({"hook_path": "relative/hook"}, "not an absolute path"),
])
def test_bad_arguments_are_one_line_errors(sim_driver, kwargs: Dict[str, Any], message: str) -> None:
    kwargs.setdefault("hook_path", NVIDIA_HOOK)
    with pytest.raises(CdiError) as info:
        generate(driver_of(sim_driver), **kwargs)
    assert message in info.value.message and "\n" not in info.value.line("nvc-ctk")


def test_generate_imports_neither_jsonschema_nor_yaml(sim_driver) -> None:
    """The library side of ``cdi generate`` (discovery, spec, our emitter, the semantic checks)."""
    code = ("import sys\nfrom nvcontainer.discovery import discover\nfrom nvcontainer.cdi.generate import generate\n"
            "from nvcontainer.cdi.spec import dump_spec\nfrom nvcontainer.cdi.validate import validate\n"
            f"s = generate(discover({str(sim_driver.root)!r}), hook_path='/x/nvc-cdi-hook')\n"
            "validate(s, schema=False)\ndump_spec(s, 'yaml')\n"
            "print(sorted(m for m in ('jsonschema', 'yaml', 'referencing', 're', 'json', 'enum', 'copy') "
            "if m in sys.modules))")
    # -S with site-packages added by hand: no .pth file (some import re) runs first
    code = "import site, sys\nsys.path += site.getsitepackages()\n" + code
    out = subprocess.run([os.sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


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
