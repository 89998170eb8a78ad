"""The shim's cdi mode: requested devices are resolved against CDI specs made from the Plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvcontainer.cdi import generate
from nvcontainer.config.loading import parse_config
from nvcontainer.discovery import discover
from nvcontainer.errors import NvcError
from nvcontainer.runtime import modifiers
from nvcontainer.simulate import SimulatedDriver


def context(spec_dir: Path, mode: str = "auto") -> modifiers.ModifyContext:
    config = parse_config(f'[nvidia-container-runtime]\nmode = "{mode}"\n'
                          f'[nvidia-container-runtime.modes.cdi]\nspec-dirs = ["{spec_dir}"]\n')
    return modifiers.ModifyContext(config, "/usr/bin/nvc-container-runtime-hook", ())


def oci(devices: str) -> dict:
    return {"ociVersion": "1.0.2", "process": {"env": [f"NVIDIA_VISIBLE_DEVICES={devices}"]},
            "root": {"path": "rootfs"},
            "hooks": {"prestart": [{"path": "/usr/bin/nvidia-container-runtime-hook", "args": ["x", "prestart"]}]}}


@pytest.fixture(scope="module")
def spec_dir(sim_driver: SimulatedDriver, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cdi")
    (d / "nvidia.json").write_text(json.dumps(generate(discover(str(sim_driver.root)))))
    return d


def test_fully_qualified_names_select_cdi_and_inject(sim_driver: SimulatedDriver, spec_dir: Path) -> None:
    minor = sim_driver.topology.gpus[1].minor
    spec = oci("nvidia.com/gpu=1")
    modifier = modifiers.modifier_for("auto", ["nvidia.com/gpu=1"])
    assert modifier is modifiers.cdi
    out = modifier(spec, context(spec_dir))
    paths = [d["path"] for d in out["linux"]["devices"]]
    assert f"/dev/nvidia{minor}" in paths and "/dev/nvidiactl" in paths
    assert f"/dev/nvidia{sim_driver.topology.gpus[0].minor}" not in paths
    assert out["hooks"]["prestart"] == [], "the legacy hook is removed in cdi mode"
    assert spec["hooks"]["prestart"], "the input spec is not mutated"


def test_bare_ids_get_the_default_kind_in_cdi_mode(spec_dir: Path) -> None:
    out = modifiers.cdi(oci("0,2"), context(spec_dir, "cdi"))
    assert len([d for d in out["linux"]["devices"] if d["path"].rstrip("0123456789") == "/dev/nvidia"]) == 2


def test_unknown_device_is_one_line(spec_dir: Path) -> None:
    with pytest.raises(NvcError) as info:
        modifiers.cdi(oci("nvidia.com/gpu=42"), context(spec_dir))
    assert "unresolvable CDI devices nvidia.com/gpu=42" in info.value.message
