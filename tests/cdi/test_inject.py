"""nvcontainer.cdi.inject: qualified names resolved against spec dirs, edits applied to an OCI spec."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Dict

import pytest

from nvcontainer.cdi import CdiError, UnresolvableDevicesError, inject
from nvcontainer.cdi.generate import generate
from nvcontainer.cdi.spec import write_spec
from tests.cdi.helpers import driver_of

OCI: Dict[str, Any] = {
    "ociVersion": "1.0.2",
    "process": {"args": ["sh"], "env": ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=all"]},
    "root": {"path": "rootfs"},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
               {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}],
    "linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}]}},
}


@pytest.fixture(scope="module")
def spec_dir(sim_driver, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cdi")
    write_spec(generate(driver_of(sim_driver), hook_path="/usr/bin/nvc-cdi-hook"), str(directory / "nvidia.yaml"))
    return directory


def test_inject_one_gpu(spec_dir: Path, sim_driver) -> None:
    before = copy.deepcopy(OCI)
    out = inject([str(spec_dir)], ["nvidia.com/gpu=1"], OCI)
    assert OCI == before  # the input is left alone
    assert out["process"]["env"] == ["PATH=/bin", "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu",
                                     "NVIDIA_VISIBLE_DEVICES=void"]
    devices = {d["path"]: d for d in out["linux"]["devices"]}
    assert set(devices) == {"/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                            "/dev/nvidia-modeset"}
    st = os.stat(sim_driver.root / "dev/nvidia1")
    assert devices["/dev/nvidia1"]["type"] == "c"
    assert (devices["/dev/nvidia1"]["major"], devices["/dev/nvidia1"]["minor"]) == (195, 1) == (
        os.major(st.st_rdev), os.minor(st.st_rdev))
    rules = out["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 195, "minor": 1, "access": "rwm"} in rules
    assert len(rules) == 1 + len(devices)
    destinations = [m["destination"] for m in out["mounts"]]
    depths = [len(d.strip("/").split("/")) for d in destinations]
    assert depths == sorted(depths) and destinations[:2] == ["/proc", "/dev"]
    assert not [d for d in destinations[2:] if d.startswith("/proc")]
    lib = [m for m in out["mounts"] if m["destination"].endswith("/libnvidia-ml.so.550.54.15")]
    assert lib and lib[0]["type"] == "bind" and lib[0]["options"] == ["ro", "nosuid", "nodev", "rbind", "rprivate"]
    hooks = out["hooks"]["createContainer"]
    assert [h["args"][1] for h in hooks] == [
        "mount-driver-proc", "create-symlinks", "create-symlinks", "enable-cuda-compat", "update-ldcache",
        "disable-device-node-modification", "update-application-profile"]
    assert all(h["env"] == ["NVIDIA_CTK_DEBUG=false"] and h["path"] == "/usr/bin/nvc-cdi-hook" for h in hooks)


def test_common_edits_are_applied_once(spec_dir: Path) -> None:
    out = inject([str(spec_dir)], ["nvidia.com/gpu=1", "nvidia.com/gpu=0:1"], OCI)
    assert len(out["hooks"]["createContainer"]) == 7
    paths = [d["path"] for d in out["linux"]["devices"]]
    assert len(paths) == len(set(paths)) and "/dev/nvidia0" in paths
    assert len([p for p in paths if p.startswith("/dev/nvidia-caps/")]) == 2


def test_unresolvable_devices(spec_dir: Path) -> None:
    with pytest.raises(UnresolvableDevicesError) as info:
        inject([str(spec_dir)], ["nvidia.com/gpu=1", "nvidia.com/gpu=9", "other.com/x=0"], OCI)
    assert info.value.message == "unresolvable CDI devices nvidia.com/gpu=9, other.com/x=0"
    with pytest.raises(CdiError, match="unqualified device '1'"):
        inject([str(spec_dir)], ["1"], OCI)


def test_priority_conflicts_and_invalid_specs(spec_dir: Path, tmp_path: Path) -> None:
    mine = {"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu",
            "devices": [{"name": "1", "containerEdits": {"env": ["MINE=1"]}}]}
    later = tmp_path / "later"
    later.mkdir()
    (later / "override.json").write_text(json.dumps(mine))
    (later / "broken.json").write_text(json.dumps({**mine, "kind": "bad"}))
    out = inject([str(spec_dir), str(later)], ["nvidia.com/gpu=1"], OCI)
    assert out["process"]["env"] == ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=all", "MINE=1"]
    assert "linux" not in out or "devices" not in out["linux"]
    (later / "twice.json").write_text(json.dumps(mine))
    with pytest.raises(CdiError, match="conflicting CDI device nvidia.com/gpu=1"):
        inject([str(later)], ["nvidia.com/gpu=1"], OCI)
