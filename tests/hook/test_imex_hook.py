"""The hook's IMEX part (issue 18, point 5): ``NVIDIA_IMEX_CHANNELS`` → the configure request, and
``load-kmods`` / ``features.disable-imex-channel-creation`` → creating channel nodes.

NVIDIA's hook (toolkit 1.20, internal/config/image and cmd/nvidia-container-runtime-hook) as data:
the ``--imex-channel=`` value it hands nvidia-container-cli for each env value, and its other
arguments.  One deliberate difference, documented in docs/migration.md: ``all`` gives every channel
node the host has here; NVIDIA's hook drops ``all`` (it cannot tell it from a legacy image's
default) and the container gets no channel.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Dict, Optional

import pytest

from nvcontainer.config import Config, ContainerCliConfig, Features
from nvcontainer.container import plan
from nvcontainer.hook.prestart import build_request
from nvcontainer.hook.request import ContainerSpec, parse_request
from nvcontainer.hook.state import BundleSpec, HookState
from nvcontainer.records import replace

VOLUME = "/var/run/nvidia-container-devices"

# env value of NVIDIA_IMEX_CHANNELS (None: unset) -> NVIDIA's --imex-channel value (None: no option)
NVIDIA_IMEX_ARG: Dict[Optional[str], Optional[str]] = {
    None: None,
    "": None,
    "void": None,
    "none": None,  # [""] joined: empty, so no option
    "0,none": None,
    "3,1": "3,1",
    " 2 ,, 5": "2,5",
    "all": None,  # <- ours: every channel the host has
    "0,all": None,  # <- ours: likewise
}
OURS_DIFFER = {"all", "0,all"}


def request_for(env: Dict[str, str], config: Optional[Config] = None, privileged: bool = True,
                mounts: tuple = ()):  # type: ignore[no-untyped-def]
    spec = ContainerSpec(env=tuple(f"{k}={v}" for k, v in env.items()), privileged=privileged, mounts=mounts)
    cfg = config or Config()
    gpu = parse_request(spec, cfg)
    assert gpu is not None
    return build_request(gpu, BundleSpec(oci_version="1.0.2", rootfs="/rootfs", container=spec),
                         HookState(pid=1, bundle="/b"), cfg)


@pytest.mark.parametrize("value", list(NVIDIA_IMEX_ARG))
def test_imex_env_as_nvidias_hook_passes_it(value: Optional[str]) -> None:
    env = {"NVIDIA_VISIBLE_DEVICES": "0"}
    if value is not None:
        env["NVIDIA_IMEX_CHANNELS"] = value
    req = request_for(env)
    if value in OURS_DIFFER:
        assert req.all_imex_channels and req.imex_channels is None
        return
    want = NVIDIA_IMEX_ARG[value]
    assert (",".join(req.imex_channels) if req.imex_channels else None) == want
    assert not req.all_imex_channels


def test_legacy_image_without_the_variable_gets_no_channel() -> None:
    # For device variables a legacy image's unset means all; not for IMEX channels (toolkit PR 801).
    req = request_for({"CUDA_VERSION": "11.0"})
    assert req.imex_channels is None and not req.all_imex_channels


def test_imex_volume_mounts() -> None:
    config = replace(Config(), accept_nvidia_visible_devices_as_volume_mounts=True)
    mounts = (("/dev/null", f"{VOLUME}/0"), ("/dev/null", f"{VOLUME}/imex/4"), ("/dev/null", f"{VOLUME}/imex/2"))
    req = request_for({"NVIDIA_IMEX_CHANNELS": "9"}, config, mounts=mounts)
    assert req.imex_channels == ["4", "2"]
    req = request_for({}, config, mounts=(("/dev/null", f"{VOLUME}/0"), ("/dev/null", f"{VOLUME}/imex/all")))
    assert req.all_imex_channels


def test_unprivileged_and_ignored_requests() -> None:
    config = replace(Config(), accept_nvidia_visible_devices_envvar_when_unprivileged=False,
                     accept_nvidia_visible_devices_as_volume_mounts=True)
    req = request_for({"NVIDIA_IMEX_CHANNELS": "all"}, config, privileged=False,
                      mounts=(("/dev/null", f"{VOLUME}/0"),))
    assert req.imex_channels is None and not req.all_imex_channels
    config = replace(Config(), features=Features(ignore_imex_channel_requests=True))
    req = request_for({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_IMEX_CHANNELS": "all"}, config)
    assert req.imex_channels is None and not req.all_imex_channels


@pytest.mark.parametrize("load_kmods, disable, want", [(True, False, (True, False)), (False, False, (False, False)),
                                                        (True, True, (True, True))])
def test_load_kmods_and_disable_imex_channel_creation(load_kmods: bool, disable: bool, want: tuple) -> None:
    # NVIDIA's hook: --load-kmods when nvidia-container-cli.load-kmods (default true), and
    # --no-create-imex-channels when features.disable-imex-channel-creation.
    config = replace(Config(), nvidia_container_cli=ContainerCliConfig(load_kmods=load_kmods),
                     features=Features(disable_imex_channel_creation=disable))
    req = request_for({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_IMEX_CHANNELS": "1"}, config)
    assert (req.load_kmods, req.no_create_imex_channels) == want
    assert Config().nvidia_container_cli.load_kmods is True


def test_all_gives_every_channel_node_of_the_host(sim_driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "driver"
    subprocess.run(["cp", "-a", str(sim_driver.root), str(root)], check=True)
    os.mknod(root / "dev/nvidia-caps-imex-channels/channel2047", 0o666 | stat.S_IFCHR, os.makedev(234, 2047))
    req = replace(request_for({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_IMEX_CHANNELS": "all"}), rootfs=str(tmp_path))
    channels = [d.path for d in plan(req, root=str(root)).devices if "imex" in d.path]
    assert channels == ["/dev/nvidia-caps-imex-channels/channel0", "/dev/nvidia-caps-imex-channels/channel2047"]
