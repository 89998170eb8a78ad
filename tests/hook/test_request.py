"""The container env → request mapping, case by case (toolkit §2; the Go tests in
cmd/nvidia-container-runtime-hook/container_config_test.go), and the OCI state/spec readers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from nvcontainer.config import Config, Features, parse_config
from nvcontainer.errors import InputError
from nvcontainer.hook.request import ContainerSpec, GpuRequest, parse_request, requested_devices
from nvcontainer.hook.state import load_bundle_spec, parse_state
from nvcontainer.records import replace

ALL = ("compat32", "compute", "display", "graphics", "ngx", "utility", "video")
DEFAULT = ("compute", "utility")


def spec(env: Dict[str, str], privileged: bool = False, mounts: Tuple[Tuple[str, str], ...] = ()) -> ContainerSpec:
    return ContainerSpec(env=tuple(f"{k}={v}" for k, v in env.items()), privileged=privileged, mounts=mounts)


# (id, env, expected devices (None = not a GPU container), expected capabilities, expected requirements)
DEVICE_CASES = [
    ("unset", {}, None, None, None),
    ("empty", {"NVIDIA_VISIBLE_DEVICES": ""}, None, None, None),
    ("void", {"NVIDIA_VISIBLE_DEVICES": "void"}, None, None, None),
    ("none", {"NVIDIA_VISIBLE_DEVICES": "none"}, (), DEFAULT, ()),
    ("all", {"NVIDIA_VISIBLE_DEVICES": "all"}, ("all",), DEFAULT, ()),
    ("list", {"NVIDIA_VISIBLE_DEVICES": "0,1"}, ("0", "1"), DEFAULT, ()),
    ("spaces-dups-empties", {"NVIDIA_VISIBLE_DEVICES": " 1 ,,0, 1"}, ("1", "0"), DEFAULT, ()),
    ("uuid-mig", {"NVIDIA_VISIBLE_DEVICES": "GPU-abc,0:1,MIG-def"}, ("GPU-abc", "0:1", "MIG-def"), DEFAULT, ()),
    ("all-wins", {"NVIDIA_VISIBLE_DEVICES": "0,all,none"}, ("all",), DEFAULT, ()),
    ("none-first", {"NVIDIA_VISIBLE_DEVICES": "0,none,all"}, (), DEFAULT, ()),
    ("void-first", {"NVIDIA_VISIBLE_DEVICES": "0,void,all"}, None, None, None),
    ("legacy-unset", {"CUDA_VERSION": "9.0.176"}, ("all",), ALL, ("cuda>=9.0",)),
    ("legacy-void", {"CUDA_VERSION": "9.0", "NVIDIA_VISIBLE_DEVICES": "void"}, None, None, None),
    ("legacy-major-only", {"CUDA_VERSION": "10"}, ("all",), ALL, ("cuda>=10.0",)),
    ("not-legacy-require-cuda", {"CUDA_VERSION": "11.0", "NVIDIA_REQUIRE_CUDA": "cuda>=11.0"}, None, None, None),
    ("legacy-with-devices", {"CUDA_VERSION": "8.0.61", "NVIDIA_VISIBLE_DEVICES": "2"}, ("2",), ALL, ("cuda>=8.0",)),
    ("caps-empty", {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": ""}, ("0",), DEFAULT, ()),
    ("caps-all", {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "all"}, ("0",), ALL, ()),
    ("caps-list", {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "video, graphics,video"},
     ("0",), ("graphics", "video"), ()),
    ("caps-legacy-explicit", {"CUDA_VERSION": "9.0", "NVIDIA_DRIVER_CAPABILITIES": "utility"},
     ("all",), ("utility",), ("cuda>=9.0",)),
    ("require", {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_REQUIRE_CUDA": "cuda>=11.0",
                 "NVIDIA_REQUIRE_DRIVER": "driver>=450 brand=tesla"},
     ("0",), DEFAULT, ("cuda>=11.0", "driver>=450 brand=tesla")),
    ("require-jetpack-ignored", {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_REQUIRE_JETPACK": "csv-mounts=all"},
     ("0",), DEFAULT, ()),
    ("disable-require", {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_REQUIRE_CUDA": "cuda>=99.0",
                         "NVIDIA_DISABLE_REQUIRE": "true"}, ("0",), DEFAULT, ()),
    ("disable-require-legacy", {"CUDA_VERSION": "9.0", "NVIDIA_DISABLE_REQUIRE": "1"}, ("all",), ALL, ()),
    ("disable-require-not-bool", {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_REQUIRE_X": "arch>=7.0",
                                  "NVIDIA_DISABLE_REQUIRE": "yes"}, ("0",), DEFAULT, ("arch>=7.0",)),
]


@pytest.mark.parametrize("env, devices, caps, reqs", [c[1:] for c in DEVICE_CASES], ids=[c[0] for c in DEVICE_CASES])
def test_env_to_request(env: Dict[str, str], devices: Optional[Tuple[str, ...]],
                        caps: Optional[Tuple[str, ...]], reqs: Optional[Tuple[str, ...]]) -> None:
    got = parse_request(spec(env), Config())
    if devices is None:
        assert got is None
        return
    assert got == GpuRequest(devices=devices or None, capabilities=caps or (), requirements=reqs or ())


def test_only_nvidia_variables_are_read() -> None:
    env = {"NVIDIA_VISIBLE_DEVICES": "0", "LD_PRELOAD": "/x.so", "PYTHONPATH": "/p", "PATH": "/bin"}
    from nvcontainer.hook.request import env_map

    assert env_map([f"{k}={v}" for k, v in env.items()] + ["NOEQUALS"]) == {"NVIDIA_VISIBLE_DEVICES": "0"}


def test_last_entry_wins() -> None:
    got = parse_request(ContainerSpec(env=("NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_VISIBLE_DEVICES=void")), Config())
    assert got is None


@pytest.mark.parametrize("env, message", [
    ({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "compute,bogus"},
     "unsupported capabilities found in 'compute,bogus' (allowed "
     "'compat32,compute,display,graphics,ngx,utility,video')"),
    ({"CUDA_VERSION": "nine"}, "failed to get requirements: invalid CUDA_VERSION 'nine'"),
    ({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_MIG_CONFIG_DEVICES": "all"},
     "cannot set MIG_CONFIG_DEVICES in non privileged container"),
    ({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_MIG_MONITOR_DEVICES": "all"},
     "cannot set MIG_MONITOR_DEVICES in non privileged container"),
])
def test_errors(env: Dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_request(spec(env), Config())
    assert err.value.message == message


def test_mig_and_imex_when_privileged() -> None:
    env = {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_MIG_CONFIG_DEVICES": "all", "NVIDIA_MIG_MONITOR_DEVICES": "all",
           "NVIDIA_IMEX_CHANNELS": "3,1,3"}
    got = parse_request(spec(env, privileged=True), Config())
    assert got is not None
    assert (got.mig_config, got.mig_monitor, got.imex_channels) == ("all", "all", ("3", "1"))


@pytest.mark.parametrize("value, expected", [("all", ("all",)), ("", ()), ("0,all", ("all",)), ("7", ("7",)),
                                             ("0,none", ()), ("all,void", ()), (" 3 , 1 ,3", ("3", "1"))])
def test_imex_channels(value: str, expected: Tuple[str, ...]) -> None:
    got = parse_request(spec({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_IMEX_CHANNELS": value}), Config())
    assert got is not None and got.imex_channels == expected


def test_imex_ignored_by_feature() -> None:
    config = replace(Config(), features=Features(ignore_imex_channel_requests=True))
    got = parse_request(spec({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_IMEX_CHANNELS": "1"}), config)
    assert got is not None and got.imex_channels == ()


def test_unprivileged_envvar_refused_when_configured() -> None:
    config = parse_config("accept-nvidia-visible-devices-envvar-when-unprivileged = false\n")
    env = {"NVIDIA_VISIBLE_DEVICES": "0"}
    assert parse_request(spec(env), config) is None
    got = parse_request(spec(env, privileged=True), config)
    assert got is not None and got.devices == ("0",)


def test_swarm_resource_replaces_visible_devices() -> None:
    config = parse_config('swarm-resource = "DOCKER_RESOURCE_GPU,OTHER_GPU"\n')
    env = {"NVIDIA_VISIBLE_DEVICES": "all", "DOCKER_RESOURCE_GPU": "GPU-a", "OTHER_GPU": "GPU-b"}
    assert requested_devices(spec(env), config) == ("GPU-a", "GPU-b")
    assert requested_devices(spec({"NVIDIA_VISIBLE_DEVICES": "1"}), config) == ("1",)


def test_supported_capabilities_limit_all() -> None:
    config = parse_config('supported-driver-capabilities = "utility,compute,video"\n')
    got = parse_request(spec({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "all"}), config)
    assert got is not None and got.capabilities == ("compute", "utility", "video")
    with pytest.raises(InputError):
        parse_request(spec({"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "graphics"}), config)


VOLUME = "/var/run/nvidia-container-devices"


def test_volume_mounts() -> None:
    mounts = ((("/dev/null", f"{VOLUME}/1"), ("/dev/null", f"{VOLUME}/GPU-x"), ("/tmp", f"{VOLUME}/2"),
               ("/dev/null", f"{VOLUME}/cdi/nvidia.com/gpu/0"), ("/dev/null", f"{VOLUME}/imex/5"),
               ("/dev/null", "/elsewhere/3")))
    env = {"NVIDIA_VISIBLE_DEVICES": "all"}
    accepted = parse_config("accept-nvidia-visible-devices-as-volume-mounts = true\n")
    got = parse_request(spec(env, mounts=mounts), accepted)
    assert got is not None and got.devices == ("1", "GPU-x") and got.imex_channels == ("5",)
    got = parse_request(spec(env, mounts=mounts), Config())
    assert got is not None and got.devices == ("all",), "mounts are ignored unless the config accepts them"
    got = parse_request(spec(env, mounts=((("/tmp", f"{VOLUME}/1"),))), accepted)
    assert got is not None and got.devices == ("all",), "no /dev/null mount: the env decides"


def test_disable_require_in_config() -> None:
    config = parse_config("disable-require = true\n")
    got = parse_request(spec({"CUDA_VERSION": "9.0", "NVIDIA_REQUIRE_X": "cuda>=9"}), config)
    assert got is not None and got.requirements == ()


def test_state_and_bundle(tmp_path: Path) -> None:
    assert parse_state('{"pid": 42, "bundle": "/b", "id": "c1"}') == parse_state(
        '{"ociVersion": "1.0.2", "pid": 42, "bundlePath": "/b", "id": "c1"}')
    with pytest.raises(InputError):
        parse_state("not json")
    config = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
              "process": {"env": ["NVIDIA_VISIBLE_DEVICES=0"], "capabilities": {"bounding": ["CAP_SYS_ADMIN"]}},
              "mounts": [{"source": "/dev/null", "destination": f"{VOLUME}/1"}]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    bundle = load_bundle_spec(str(tmp_path))
    assert bundle.rootfs == str(tmp_path / "rootfs")
    assert bundle.container == ContainerSpec(("NVIDIA_VISIBLE_DEVICES=0",), True, (("/dev/null", f"{VOLUME}/1"),))
    config["process"]["capabilities"] = ["CAP_SYS_ADMIN"]  # type: ignore[index]  # OCI 1.0.0-rc1..rc4
    config["root"] = {"path": "/abs/rootfs"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    bundle = load_bundle_spec(str(tmp_path))
    assert bundle.container.privileged and bundle.rootfs == "/abs/rootfs"
    for key, message in (("ociVersion", "version is empty in OCI spec"), ("process", "process is empty in OCI spec"),
                         ("root", "root is empty in OCI spec")):
        broken = {k: v for k, v in config.items() if k != key}
        (tmp_path / "config.json").write_text(json.dumps(broken))
        with pytest.raises(InputError, match=message):
            load_bundle_spec(str(tmp_path))
