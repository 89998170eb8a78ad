"""Family 9: the image's environment naming CDI devices of any vendor (issue 16, point 9).

In the shim's cdi and jit-cdi modes the container's own env (``NVIDIA_VISIBLE_DEVICES``, the
swarm-resource variables) and, where accepted, its ``/dev/null`` volume mounts choose CDI devices.
Any spec in the spec dirs could be reached that way (another vendor's device, a management spec's
``all`` with every device node): only the configured kind may be asked for from there.  Each
spelling below must be refused with one line, with nothing applied; a spec defining the device
exists, so that the refusal is the rule's and not "unresolvable".  Three spellings also go through
the installed shim with a fake low-level runtime: config.json stays byte for byte, runc never runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from nvcontainer.cdi.errors import CdiError
from nvcontainer.config.loading import parse_config
from nvcontainer.errors import NvcError
from nvcontainer.launchers import write_launcher
from nvcontainer.runtime import modifiers

KINDS = ["vendor.com/x", "management.nvidia.com/gpu", "nvidia.com/gpu-evil", "NVIDIA.COM/gpu", "nvidia.com/gpux",
         "runtime.nvidia.com/gpu"]

ENV_SPELLINGS = [
    "vendor.com/x=0",
    " vendor.com/x=0 ",
    "nvidia.com/gpu=0,vendor.com/x=0",
    "vendor.com/x=0,nvidia.com/gpu=0",
    "nvidia.com/gpu=0, vendor.com/x=0",
    "vendor.com/x=all",
    "management.nvidia.com/gpu=all",
    "nvidia.com/gpu-evil=0",
    "NVIDIA.COM/gpu=0",
    "nvidia.com/gpux=0",
    "runtime.nvidia.com/gpu=0",  # the jit-cdi kind is not a spec-dir kind in cdi mode
    "0,1,vendor.com/x=0",
]
MOUNT_SPELLINGS = [
    "cdi/vendor.com/x/0",
    "cdi/vendor.com/x=0",
    "cdi/nvidia.com/gpu/../../vendor.com/x/0",
    "cdi/management.nvidia.com/gpu/all",
    "./cdi/vendor.com/x//0",
]


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cdi")
    for number, kind in enumerate(KINDS + ["nvidia.com/gpu"]):
        spec = {"cdiVersion": "0.6.0", "kind": kind,
                "devices": [{"name": name, "containerEdits": {"env": [f"GOT_{number}_{name.upper()}=1"]}}
                            for name in ("0", "1", "all")]}
        (d / f"spec{number}.json").write_text(json.dumps(spec))
    return d


def ctx(spec_dir: Path, mode: str, top: str = "") -> modifiers.ModifyContext:
    config = parse_config(f'{top}[nvidia-container-runtime]\nmode = "{mode}"\n'
                          f'[nvidia-container-runtime.modes.cdi]\nspec-dirs = ["{spec_dir}"]\n')
    return modifiers.ModifyContext(config, "/usr/bin/nvc-container-runtime-hook", ())


def oci(env: List[str], mounts: Any = None) -> Dict[str, Any]:
    spec: Dict[str, Any] = {"ociVersion": "1.0.2", "process": {"env": env}, "root": {"path": "rootfs"}}
    if mounts:
        spec["mounts"] = mounts
    return spec


def refused(fn: Any) -> CdiError:
    with pytest.raises(NvcError) as info:
        fn()
    assert isinstance(info.value, CdiError), info.value
    assert "refusing CDI device" in info.value.message and "\n" not in info.value.line("nvc-container-runtime")
    return info.value


@pytest.mark.parametrize("value", ENV_SPELLINGS)
@pytest.mark.parametrize("mode", ["cdi", "auto"])
def test_env_names_of_other_kinds_are_refused(spec_dir: Path, value: str, mode: str) -> None:
    spec = oci([f"NVIDIA_VISIBLE_DEVICES={value}"])
    context = ctx(spec_dir, mode)
    modifier = modifiers.modifier_for(mode, None, spec, context.config)
    if modifier is modifiers.legacy:  # auto with a bare id in the list: legacy mode, no CDI at all
        assert any(not item.strip() or "=" not in item for item in value.split(","))
        return
    refused(lambda: modifier(spec, context))


@pytest.mark.parametrize("value", ["vendor.com/x=0", "nvidia.com/gpu=1,vendor.com/x=1",
                                   "management.nvidia.com/gpu=all"])
def test_jit_cdi_mode_too(spec_dir: Path, value: str) -> None:
    refused(lambda: modifiers.jit_cdi(oci([f"NVIDIA_VISIBLE_DEVICES={value}"]), ctx(spec_dir, "jit-cdi")))


def test_swarm_resource_variables(spec_dir: Path) -> None:
    context = ctx(spec_dir, "cdi", top='swarm-resource = "DOCKER_RESOURCE_GPU"\n')
    for env in (["DOCKER_RESOURCE_GPU=vendor.com/x=0"],
                ["NVIDIA_VISIBLE_DEVICES=0", "DOCKER_RESOURCE_GPU=vendor.com/x=1"]):
        refused(lambda env=env: modifiers.cdi(oci(env), context))


@pytest.mark.parametrize("dest", MOUNT_SPELLINGS)
def test_volume_mount_names_of_other_kinds_are_refused(spec_dir: Path, dest: str) -> None:
    context = ctx(spec_dir, "cdi", top="accept-nvidia-visible-devices-as-volume-mounts = true\n")
    mounts = [{"source": "/dev/null", "destination": f"/var/run/nvidia-container-devices/{dest}", "type": "bind"}]
    refused(lambda: modifiers.cdi(oci(["NVIDIA_VISIBLE_DEVICES=0"], mounts), context))


def test_the_configured_kind_still_works(spec_dir: Path) -> None:
    out = modifiers.cdi(oci(["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=1,0"]), ctx(spec_dir, "cdi"))
    number = len(KINDS)
    assert [e for e in out["process"]["env"] if e.startswith("GOT_")] == [f"GOT_{number}_1=1", f"GOT_{number}_0=1"]


@pytest.mark.parametrize("value", ["vendor.com/x=0", "nvidia.com/gpu=0,management.nvidia.com/gpu=all",
                                   "NVIDIA.COM/gpu=1"])
def test_through_the_installed_shim(spec_dir: Path, tmp_path: Path, value: str) -> None:
    import subprocess

    shim = write_launcher(str(tmp_path / "nvc-container-runtime"), name="nvc-container-runtime", kind="runtime")
    fake = tmp_path / "fake-runc"
    fake.write_text(f"#!/bin/sh\ntouch {tmp_path}/ran\n")
    fake.chmod(0o755)
    config = tmp_path / "config.toml"
    config.write_text(f'[nvidia-container-runtime]\nmode = "cdi"\nruntimes = ["{fake}"]\n'
                      f'[nvidia-container-runtime.modes.cdi]\nspec-dirs = ["{spec_dir}"]\n')
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    text = json.dumps(oci([f"NVIDIA_VISIBLE_DEVICES={value}"]), indent=1)
    (bundle / "config.json").write_text(text)
    out = subprocess.run([shim, "create", "--bundle", str(bundle), "cid"], capture_output=True, text=True,
                         env={"NVIDIA_CTK_CONFIG_FILE_PATH": str(config), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1
    assert out.stderr.startswith("nvc-container-runtime: cdi error: refusing CDI device ") and \
        out.stderr.count("\n") == 1
    assert (bundle / "config.json").read_text() == text and not (tmp_path / "ran").exists()
