"""The shim's cdi, jit-cdi and csv modes, in process: which devices a container asks for (annotations,
volume mounts, env), which kinds it may ask for, the jit-cdi spec (against NVIDIA's as data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from nvcontainer.cdi import generate
from nvcontainer.config.loading import parse_config
from nvcontainer.discovery import discover
from nvcontainer.errors import NvcError
from nvcontainer.runtime import modifiers
from nvcontainer.runtime.cdirequests import requests
from nvcontainer.simulate import SimulatedDriver
from tests.cdi.test_generate import expected

PLUGIN_ANNOTATION = "cdi.k8s.io/nvidia-device-plugin_3f2a"  # as NVIDIA's k8s device plugin names them


def context(spec_dir: Path, mode: str = "auto", extra: str = "", root: Optional[Path] = None,
            top: str = "") -> modifiers.ModifyContext:
    cli = f'[nvidia-container-cli]\nroot = "{root}"\n' if root else ""
    config = parse_config(f'{top}{cli}[nvidia-container-runtime]\nmode = "{mode}"\n'
                          f'[nvidia-container-runtime.modes.cdi]\nspec-dirs = ["{spec_dir}"]\n{extra}')
    return modifiers.ModifyContext(config, "/usr/bin/nvc-container-runtime-hook", ())


def oci(devices: Optional[str], annotations: Optional[Dict[str, str]] = None,
        mounts: Optional[List[Dict[str, Any]]] = None) -> dict:
    env = [f"NVIDIA_VISIBLE_DEVICES={devices}"] if devices is not None else []
    spec: Dict[str, Any] = {
        "ociVersion": "1.0.2", "process": {"env": env}, "root": {"path": "rootfs"},
        "hooks": {"prestart": [{"path": "/usr/bin/nvidia-container-runtime-hook", "args": ["x", "prestart"]}]}}
    if annotations:
        spec["annotations"] = annotations
    if mounts:
        spec["mounts"] = mounts
    return spec


def gpu_nodes(out: dict) -> List[str]:
    return sorted(d["path"] for d in out.get("linux", {}).get("devices", [])
                  if d["path"].rstrip("0123456789") in ("/dev/nvidia", "/dev/nvidia-caps/nvidia-cap"))


@pytest.fixture(scope="module")
def spec_dir(sim_driver: SimulatedDriver, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cdi")
    (d / "nvidia.json").write_text(json.dumps(generate(discover(str(sim_driver.root)), hook_path="/x/nvc-cdi-hook")))
    other = {"cdiVersion": "0.5.0", "kind": "vendor.com/x",
             "devices": [{"name": "0", "containerEdits": {"env": ["VENDOR_X=0"]}}]}
    (d / "vendor.json").write_text(json.dumps(other))
    return d


def test_fully_qualified_names_select_cdi_and_inject(sim_driver: SimulatedDriver, spec_dir: Path) -> None:
    minor = sim_driver.topology.gpus[1].minor
    spec = oci("nvidia.com/gpu=1")
    modifier = modifiers.modifier_for("auto", ["nvidia.com/gpu=1"], spec, context(spec_dir).config)
    assert modifier is modifiers.cdi
    out = modifier(spec, context(spec_dir))
    paths = [d["path"] for d in out["linux"]["devices"]]
    assert f"/dev/nvidia{minor}" in paths and "/dev/nvidiactl" in paths
    assert gpu_nodes(out) == [f"/dev/nvidia{minor}"]
    assert out["hooks"]["prestart"] == [], "the legacy hook is removed in cdi mode"
    assert spec["hooks"]["prestart"], "the input spec is not mutated"


def test_bare_ids_get_the_default_kind_in_cdi_mode(spec_dir: Path) -> None:
    out = modifiers.cdi(oci("1,2"), context(spec_dir, "cdi"))
    assert gpu_nodes(out) == ["/dev/nvidia1", "/dev/nvidia2"]
    assert modifiers.cdi(oci("none"), context(spec_dir, "cdi"))["hooks"]["prestart"], "none: left as it is"


def test_unknown_device_is_one_line(spec_dir: Path) -> None:
    with pytest.raises(NvcError) as info:
        modifiers.cdi(oci("nvidia.com/gpu=42"), context(spec_dir))
    assert "unresolvable CDI devices nvidia.com/gpu=42" in info.value.message


def test_annotations_take_precedence(spec_dir: Path) -> None:
    """NVIDIA's image.VisibleDevices: annotations with a configured prefix win over the env, keys sorted;
    they make auto mode cdi; they may name any kind (the orchestrator sets them)."""
    annotations = {PLUGIN_ANNOTATION: "nvidia.com/gpu=2,nvidia.com/gpu=1", "cdi.k8s.io/b": "vendor.com/x=0",
                   "other.io/ignored": "nvidia.com/gpu=3"}
    spec = oci("all", annotations)
    ctx = context(spec_dir)
    assert requests(spec, ctx.config, "cdi").names == ("vendor.com/x=0", "nvidia.com/gpu=2", "nvidia.com/gpu=1")
    assert modifiers.modifier_for("auto", ["all"], spec, ctx.config) is modifiers.cdi
    out = modifiers.cdi(spec, ctx)
    assert gpu_nodes(out) == ["/dev/nvidia1", "/dev/nvidia2"] and "VENDOR_X=0" in out["process"]["env"]
    custom = context(spec_dir, extra='annotation-prefixes = ["example.com/gpus"]\n')
    assert requests(oci("all", {"example.com/gpus": "nvidia.com/gpu=3"}), custom.config, "cdi").names == (
        "nvidia.com/gpu=3",)
    assert requests(spec, custom.config, "cdi").names == ("nvidia.com/gpu=all",)  # the env, once no prefix matches
    # Not a CDI request in legacy and jit-cdi modes (NVIDIA honours annotations in cdi mode only).
    assert modifiers.modifier_for("auto", ["all"], oci("all"), ctx.config) is modifiers.legacy
    assert requests(spec, ctx.config, "jit-cdi").names == ("runtime.nvidia.com/gpu=all",)


def test_the_environment_may_only_name_the_configured_kind(spec_dir: Path) -> None:
    with pytest.raises(NvcError) as info:
        modifiers.cdi(oci("vendor.com/x=0"), context(spec_dir))
    assert info.value.line("nvc-container-runtime") == (
        "nvc-container-runtime: cdi error: refusing CDI device 'vendor.com/x=0' requested by NVIDIA_VISIBLE_DEVICES: "
        "the container may only ask for nvidia.com/gpu devices (other kinds only through the orchestrator's CDI "
        "annotations)")
    ctx = context(spec_dir, extra='default-kind = "vendor.com/x"\n')
    assert modifiers.cdi(oci("0"), ctx)["process"]["env"][-1] == "VENDOR_X=0"


def test_volume_mount_requests(spec_dir: Path) -> None:
    def mount(dest: str) -> Dict[str, Any]:
        return {"source": "/dev/null", "destination": f"/var/run/nvidia-container-devices/{dest}", "type": "bind"}

    ctx = context(spec_dir, top="accept-nvidia-visible-devices-as-volume-mounts = true\n")
    spec = oci("all", mounts=[mount("cdi/nvidia.com/gpu/1"), mount("cdi/nvidia.com/gpu=2"), mount("3"),
                              mount("imex/0")])
    assert requests(spec, ctx.config, "cdi").names == ("nvidia.com/gpu=1", "nvidia.com/gpu=2", "nvidia.com/gpu=3")
    assert gpu_nodes(modifiers.cdi(spec, ctx)) == ["/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3"]
    with pytest.raises(NvcError, match="refusing CDI device 'vendor.com/x=0' requested by a volume mount"):
        modifiers.cdi(oci("all", mounts=[mount("cdi/vendor.com/x/0")]), ctx)
    assert requests(spec, context(spec_dir).config, "cdi").names == ("nvidia.com/gpu=all",)  # not accepted: env


def test_jit_cdi(sim_driver: SimulatedDriver, spec_dir: Path) -> None:
    ctx = context(spec_dir, "jit-cdi", root=sim_driver.root)
    gpus = sim_driver.topology.gpus
    for devices, nodes in (("1", ["/dev/nvidia1"]), (gpus[2].uuid, ["/dev/nvidia2"]),
                           ("0:1", ["/dev/nvidia-caps/nvidia-cap48", "/dev/nvidia-caps/nvidia-cap49", "/dev/nvidia0"]),
                           ("runtime.nvidia.com/gpu=3", ["/dev/nvidia3"])):
        out = modifiers.jit_cdi(oci(devices), ctx)
        assert gpu_nodes(out) == nodes, devices
        assert out["hooks"]["prestart"] == []
        assert [h["args"][1] for h in out["hooks"]["createContainer"]] == [
            "mount-driver-proc", "create-symlinks", "create-symlinks", "enable-cuda-compat", "update-ldcache",
            "disable-device-node-modification", "update-application-profile"]
    everything = modifiers.jit_cdi(oci("all"), ctx)
    assert len(gpu_nodes(everything)) == 8 + 6  # GPUs 0-7 (0 once, as the MIG parent) and 2 caps per MIG device
    none = modifiers.jit_cdi(oci("none"), ctx)
    assert gpu_nodes(none) == [] and "NVCT_EMPTY_DEVICE=" in none["process"]["env"]
    assert modifiers.jit_cdi(oci("nvidia.com/gpu=1"), ctx)["process"]["env"][-1] == "NVIDIA_VISIBLE_DEVICES=void"
    with pytest.raises(NvcError) as info:
        modifiers.jit_cdi(oci("0,nvidia.com/gpu=1"), ctx)
    assert info.value.message == ("requesting a CDI device with vendor 'runtime.nvidia.com' is not supported when "
                                  "requesting other CDI devices")  # NVIDIA's message
    with pytest.raises(NvcError, match="unknown device '9'"):
        modifiers.jit_cdi(oci("9"), ctx)
    assert modifiers.modifier_for("jit-cdi") is modifiers.jit_cdi


def test_jit_cdi_spec_is_nvidias(sim_driver: SimulatedDriver, spec_dir: Path) -> None:
    """NVIDIA's jit-cdi spec (GetSpec("all")): kind runtime.nvidia.com/gpu, devices by index only, no
    ``all`` device, the common edits of ``cdi generate``; the hook is ours."""
    document = modifiers.generated_spec(context(spec_dir, "jit-cdi", root=sim_driver.root), ["all"])
    nvidia = expected("dgx-a100-debian", sim_driver.root)
    assert document["kind"] == "runtime.nvidia.com/gpu"
    by_index = [d for d in nvidia["devices"] if d["name"][0].isdigit()]
    assert document["devices"] == by_index
    ours, theirs = document["containerEdits"], nvidia["containerEdits"]
    assert {k: v for k, v in ours.items() if k != "hooks"} == {k: v for k, v in theirs.items() if k != "hooks"}
    assert [h["args"][1:] for h in ours["hooks"][1:]] == [h["args"][1:] for h in theirs["hooks"]]
    assert ours["hooks"][0]["args"][1] == "mount-driver-proc"


def test_csv_mode_is_refused_clearly(spec_dir: Path) -> None:
    ctx = context(spec_dir, "csv")
    assert modifiers.modifier_for("csv") is modifiers.csv
    with pytest.raises(NvcError) as info:
        modifiers.csv(oci("0"), ctx)
    assert info.value.line("nvc-container-runtime") == (
        "nvc-container-runtime: runtime error: mode 'csv' (Tegra/Jetson CSV mount specs) is not supported by "
        "nvc-container-runtime: use NVIDIA's nvidia-container-runtime on Jetson, or mode = \"cdi\" with a CDI spec")
    plain = oci(None)
    assert modifiers.csv(plain, ctx) is plain


@pytest.fixture
def exclusive_holder(sim_driver: SimulatedDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A live container ("victim") holding GPU 1 exclusively in a registry of this test's own."""
    import subprocess

    from nvcontainer import allocation

    monkeypatch.setenv("NVC_STATE_DIR", str(tmp_path / "allocations"))
    holder = subprocess.Popen(["sleep", "600"])
    driver = discover(str(sim_driver.root))
    allocation.allocate(driver, "1", allocation.owner_of(holder.pid, "victim"), exclusive=True)
    yield driver
    holder.kill()
    holder.wait()


@pytest.mark.parametrize("mode, names", [
    ("cdi", "nvidia.com/gpu=1"), ("cdi", "1"), ("cdi", "nvidia.com/gpu=all"),
    ("auto", "nvidia.com/gpu=2,nvidia.com/gpu=1"),
    ("cdi", "UUID-OF-1"), ("jit-cdi", "1"), ("jit-cdi", "all"),
])
def test_a_cdi_container_never_gets_a_gpu_held_exclusively(exclusive_holder: Any, sim_driver: SimulatedDriver,
                                                           spec_dir: Path, mode: str, names: str) -> None:
    names = names.replace("UUID-OF-1", "nvidia.com/gpu=" + exclusive_holder.gpus[1].uuid)
    ctx = context(spec_dir, mode, root=sim_driver.root)
    spec = oci(names)
    with pytest.raises(NvcError) as info:
        modifiers.modifier_for(mode, names.split(","), spec, ctx.config)(spec, ctx)
    assert info.value.line().startswith("nvc-cli: device error: 1: held exclusively by container victim since ")


def test_other_gpus_and_an_empty_registry_pass(exclusive_holder: Any, sim_driver: SimulatedDriver,
                                               spec_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(spec_dir, "cdi", root=sim_driver.root)
    assert gpu_nodes(modifiers.cdi(oci("2,3"), ctx)) == ["/dev/nvidia2", "/dev/nvidia3"]
    monkeypatch.setenv("NVC_STATE_DIR", str(tmp_path / "empty"))
    assert gpu_nodes(modifiers.cdi(oci("1"), ctx)) == ["/dev/nvidia1"]


def test_a_node_named_device_falls_back_to_its_gpu_nodes(exclusive_holder: Any, sim_driver: SimulatedDriver,
                                                         tmp_path: Path) -> None:
    """A spec whose device names are not ours (type-index style): the GPU nodes it gives decide."""
    d = tmp_path / "specs"
    d.mkdir()
    (d / "custom.json").write_text(json.dumps({"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": [
        {"name": f"gpu-{word}", "containerEdits": {"deviceNodes": [
            {"path": f"/dev/nvidia{n}", "hostPath": str(sim_driver.root / f"dev/nvidia{n}")}]}}
        for n, word in ((1, "one"), (2, "two"))]}))
    ctx = context(d, "cdi", root=sim_driver.root)
    with pytest.raises(NvcError, match="held exclusively by container victim"):
        modifiers.cdi(oci("nvidia.com/gpu=gpu-one"), ctx)
    assert [n["path"] for n in modifiers.cdi(oci("nvidia.com/gpu=gpu-two"), ctx)["linux"]["devices"]] == \
        ["/dev/nvidia2"]


@pytest.mark.parametrize("mode", ["cdi", "jit-cdi"])
def test_exclusive_access_is_refused_in_cdi_modes(sim_driver: SimulatedDriver, spec_dir: Path, mode: str) -> None:
    extra = '[nvidia-container-runtime-hook]\ngpu-access-annotations = ["example.com/gpu-access"]\n'
    ctx = context(spec_dir, mode, root=sim_driver.root, top=extra)
    spec = oci("1", annotations={"example.com/gpu-access": "exclusive"})
    with pytest.raises(NvcError, match="only recorded in legacy mode"):
        modifiers.MODIFIERS[mode](spec, ctx)
    shared = oci("1", annotations={"example.com/gpu-access": "shared"})
    assert gpu_nodes(modifiers.MODIFIERS[mode](shared, ctx)) == ["/dev/nvidia1"]


def test_another_vendors_device_of_the_same_name_is_not_the_gpu(exclusive_holder: Any, sim_driver: SimulatedDriver,
                                                                spec_dir: Path, tmp_path: Path) -> None:
    """vendor.com/x=1 (CDI annotations may name any kind) is not GPU 1: it passes while GPU 1 is held."""
    d = tmp_path / "specs"
    d.mkdir()
    (d / "nvidia.json").write_text((spec_dir / "nvidia.json").read_text())
    (d / "vendor.json").write_text(json.dumps({"cdiVersion": "0.5.0", "kind": "vendor.com/x",
                                               "devices": [{"name": "1", "containerEdits": {"env": ["X=1"]}}]}))
    ctx = context(d, "cdi", root=sim_driver.root)
    out = modifiers.cdi(oci(None, annotations={PLUGIN_ANNOTATION: "vendor.com/x=1"}), ctx)
    assert "X=1" in out["process"]["env"]
    with pytest.raises(NvcError, match="held exclusively"):
        modifiers.cdi(oci(None, annotations={PLUGIN_ANNOTATION: "vendor.com/x=1,nvidia.com/gpu=1"}), ctx)
