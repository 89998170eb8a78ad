"""The hook end to end: runc runs ``nvc-container-runtime-hook prestart`` (no PATH, config from
the hook entry's env) and the simulated nvidia-smi inside lists exactly the requested GPU; plus
its command line, its error line, and the environment attacks (CVE-2025-23266 class)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from nvcontainer.hook.isolation import clean_environment, unsafe_variables
from nvcontainer.hook.main import HookArgs, UsageError, parse_args
from nvcontainer.launchers import write_launcher
from nvcontainer.simulate import SimulatedDriver
from tests.containers import make_runc_bundle, mountinfo, runc_run
from tests.hook.helpers import HOOK, make_payloads, nvidia_smi_lines, write_config

SMI = ["/bin/sh", "-c", "nvidia-smi; echo rc=$?"]


@pytest.mark.parametrize("argv, expected", [
    (["prestart"], HookArgs(command="prestart")),
    (["-debug", "prestart"], HookArgs(command="prestart", debug=True)),
    (["--debug=false", "prestart"], HookArgs(command="prestart")),
    (["-config", "/c.toml", "poststop"], HookArgs(command="poststop", config="/c.toml")),
    (["--config=/c.toml", "prestart", "-debug"], HookArgs(command="prestart", config="/c.toml")),
    (["-version"], HookArgs(version=True)),
    ([], HookArgs()),
])
def test_parse_args(argv: List[str], expected: HookArgs) -> None:
    assert parse_args(argv) == expected


@pytest.mark.parametrize("argv", [["-bogus", "prestart"], ["-config"]])
def test_parse_args_errors(argv: List[str]) -> None:
    with pytest.raises(UsageError):
        parse_args(argv)


def hook(*args: str, stdin: str = "", env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(HOOK), *args], input=stdin, capture_output=True, text=True, env=env or {})


def test_commands() -> None:
    for command in ("poststart", "poststop"):
        out = hook(command, stdin="{}")
        assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    for argv in ([], ["bogus"], ["-nope", "prestart"]):
        out = hook(*argv)
        assert out.returncode == 2 and "Usage of nvc-container-runtime-hook" in out.stderr


def test_non_gpu_container_is_silent(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text('{"ociVersion": "1.0.2", "process": {"env": ["PATH=/bin"]}, '
                                        '"root": {"path": "rootfs"}}')
    out = hook("prestart", stdin=f'{{"pid": 1, "bundle": "{bundle}"}}')
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_bad_state_is_one_line(tmp_path: Path) -> None:
    out = hook("prestart", stdin="garbage")
    assert out.returncode == 1
    assert out.stderr.startswith("nvc-cli: input error: could not decode container state")
    assert len(out.stderr.splitlines()) == 1


def test_missing_required_config(tmp_path: Path) -> None:
    out = hook("prestart", stdin="{}", env={"NVIDIA_CTK_CONFIG_FILE_PATH": str(tmp_path / "nope.toml")})
    assert out.returncode == 1 and out.stderr == f"nvc-cli: input error: {tmp_path}/nope.toml: config file not found\n"


def gpu_bundle(tmp_path: Path, sim_root: Path, env: Dict[str, str], hook_env: Optional[List[str]] = None,
               hook_path: Path = HOOK, args: Optional[List[str]] = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = write_config(tmp_path / "config.toml", sim_root)
    return make_runc_bundle(tmp_path / "bundle", args or SMI, prestart=[[str(hook_path), "prestart"]],
                            hook_env=[f"NVIDIA_CTK_CONFIG_FILE_PATH={config}", *(hook_env or [])],
                            env=env, glibc=True)


def test_runc_gets_exactly_gpu_1(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    gpu = sim_driver.topology.gpus[1]
    bundle = gpu_bundle(tmp_path, sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "1"})
    before = mountinfo()
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr
    assert nvidia_smi_lines(out.stdout) == [f"GPU 0: {gpu.name} (UUID: {gpu.uuid})"]
    assert out.stdout.splitlines()[-1] == "rc=0"
    assert mountinfo() == before


def test_runc_uuid_and_capabilities(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    gpus = sim_driver.topology.gpus
    env = {"NVIDIA_VISIBLE_DEVICES": f"{gpus[3].uuid},{gpus[2].uuid}", "NVIDIA_DRIVER_CAPABILITIES": "utility"}
    bundle = gpu_bundle(tmp_path, sim_driver.root, env)
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr
    assert [line.split("UUID: ")[1].rstrip(")") for line in nvidia_smi_lines(out.stdout)] == [gpus[2].uuid,
                                                                                               gpus[3].uuid]


def test_runc_void_injects_nothing(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    bundle = gpu_bundle(tmp_path, sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "void"},
                        args=["/bin/sh", "-c", "ls /dev; nvidia-smi; echo rc=$?"])
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr
    assert "nvidia" not in out.stdout.replace("nvidia-smi", "")
    assert out.stdout.splitlines()[-1] == "rc=127"


def test_runc_unknown_device_fails_with_our_line(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    bundle = gpu_bundle(tmp_path, sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "42"})
    before = mountinfo()
    out = runc_run(bundle)
    assert out.returncode != 0
    assert "nvc-cli: device error: 42: unknown device" in out.stderr
    assert mountinfo() == before


def assert_payloads_live(payloads: Dict[str, str], marker: Path) -> None:
    """Each payload does create the marker when honoured (so its absence later means something)."""
    for name in ("LD_PRELOAD", "PYTHONPATH", "PYTHONSTARTUP"):
        argv = [sys.executable, "-i"] if name == "PYTHONSTARTUP" else [sys.executable, "-c", "pass"]
        subprocess.run(argv, env={name: payloads[name]}, input="", capture_output=True, check=True)
        assert marker.exists(), name
        marker.unlink()


def test_image_env_cannot_reach_the_hook(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    payloads = make_payloads(tmp_path / "payloads", marker)
    gpu = sim_driver.topology.gpus[0]
    assert_payloads_live(payloads, marker)
    bundle = gpu_bundle(tmp_path, sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "0", **payloads})
    out = runc_run(bundle)
    # The container's own process honours its LD_PRELOAD: that is the image's business, inside.
    # It writes the marker path inside the container's rootfs, never on the host.
    assert out.returncode == 0, out.stderr
    assert nvidia_smi_lines(out.stdout) == [f"GPU 0: {gpu.name} (UUID: {gpu.uuid})"]
    assert not marker.exists()


def test_hook_own_env_python_variables_are_dropped(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    """PYTHONPATH/PYTHONSTARTUP/PYTHONINSPECT in the hook's *own* env (as dockerd's env would be).

    The console script re-execs ``python -I`` before importing anything they could shadow; the
    ``-I`` launcher never honours them at all (not even sitecustomize)."""
    marker = tmp_path / "owned"
    payloads = make_payloads(tmp_path / "payloads", marker)
    (Path(payloads["PYTHONPATH"]) / "sitecustomize.py").unlink()  # acts before any script: launcher case below
    (Path(payloads["PYTHONPATH"]) / "usercustomize.py").unlink()
    python_env = [f"{k}={v}" for k, v in payloads.items() if k.startswith("PYTHON")]
    bundle = gpu_bundle(tmp_path / "a", sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "0"}, hook_env=python_env)
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr
    assert len(nvidia_smi_lines(out.stdout)) == 1
    assert not marker.exists()

    launcher = write_launcher(str(tmp_path / "nvidia-container-runtime-hook"))
    (Path(payloads["PYTHONPATH"]) / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    bundle = gpu_bundle(tmp_path / "b", sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "0"}, hook_env=python_env,
                        hook_path=Path(launcher))
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr
    assert len(nvidia_smi_lines(out.stdout)) == 1
    assert not marker.exists()


def test_reexec_drops_unsafe_variables(tmp_path: Path) -> None:
    env = {"LD_PRELOAD": "/x.so", "LD_LIBRARY_PATH": "/l", "PYTHONHOME": "/h", "GCONV_PATH": "/g", "HOME": "/root",
           "PYTHONUNBUFFERED": "1"}
    assert unsafe_variables(env) == ["GCONV_PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONHOME"]
    assert clean_environment(env) == {"HOME": "/root", "PYTHONUNBUFFERED": "1"}
    # Re-exec'd as `python -I -m site`, which shows its sys.path and user-site state.
    probe = "import sys; from nvcontainer.hook.isolation import ensure_isolated; ensure_isolated(['x'], 'site')"
    pydir = tmp_path / "shadow"
    pydir.mkdir()
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={"PYTHONPATH": str(pydir), "LD_BIND_NOW": "1"})
    assert out.returncode == 0, out.stderr
    assert "ENABLE_USER_SITE: False" in out.stdout and str(pydir) not in out.stdout
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={"HOME": "/root"})
    assert (out.returncode, out.stdout) == (0, ""), "a clean environment: no re-exec"
