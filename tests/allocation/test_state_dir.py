"""Where the allocation registry is (issue 19, point 4): config.toml's ``nvcontainer.state-dir``,
read by every entry point, with ``$NVC_STATE_DIR`` as an override.  (The two docker paths, the
hook our shim inserts and the one docker calls for ``--gpus``, are tested together in
tests/e2e/test_engines.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from nvcontainer import allocation
from nvcontainer.config import parse_config, render_default
from nvcontainer.errors import InputError
from nvcontainer.simulate.bundle import make_runc_bundle
from tests.containers import NVC, NamespaceProcess, make_rootfs, runc_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path, sim_driver) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(f'[nvidia-container-cli]\nroot = "{sim_driver.root}"\n\n'
                    f'[nvcontainer]\nstate-dir = "{tmp_path / "configured"}"\n\n'
                    '[nvidia-container-runtime-hook]\naccept-gpu-access-envvar = true\n')
    return path


def env_with(config: Path, **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != allocation.STATE_DIR_ENV}
    env["NVIDIA_CTK_CONFIG_FILE_PATH"] = str(config)
    env.update(extra)
    return env


def test_the_key_and_its_default() -> None:
    assert parse_config('[nvcontainer]\nstate-dir = "/var/lib/x"\n').nvcontainer.state_dir == "/var/lib/x"
    assert parse_config("").nvcontainer.state_dir == ""
    warnings: list = []  # an unknown key is a warning, as NVIDIA ignores them (tests/test_config_lenient.py)
    assert parse_config('[nvcontainer]\nstatedir = "/x"\n', warnings=warnings).nvcontainer.state_dir == ""
    assert any("unknown key 'nvcontainer.statedir'" in w for w in warnings), warnings
    with pytest.raises(InputError, match="'nvcontainer.state-dir' must be a string"):
        parse_config("[nvcontainer]\nstate-dir = 1\n")
    assert "nvcontainer" not in render_default()  # the toolkit's default file, unchanged


def test_precedence(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(allocation.STATE_DIR_ENV, raising=False)
    monkeypatch.setenv("NVIDIA_CTK_CONFIG_FILE_PATH", str(config))
    configured = str(tmp_path / "configured")
    assert allocation.state_dir() == configured
    assert allocation.state_dir(configured="/given") == "/given"
    assert allocation.state_dir(configured="") == allocation.DEFAULT_STATE_DIR
    assert allocation.state_dir("/explicit") == "/explicit"
    monkeypatch.setenv(allocation.STATE_DIR_ENV, "/override")
    assert allocation.state_dir() == "/override"
    assert allocation.state_dir(configured="/given") == "/override"
    assert allocation.state_dir("/explicit") == "/explicit"
    monkeypatch.delenv(allocation.STATE_DIR_ENV)
    config.write_text("")
    assert allocation.state_dir() == allocation.DEFAULT_STATE_DIR


def test_configure_and_ps_use_the_configured_registry(sim_driver, config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    configured = str(tmp_path / "configured")
    proc = NamespaceProcess()
    try:
        rootfs = make_rootfs(tmp_path / "rootfs")
        out = subprocess.run([*NVC, "configure", "--device=2", "--exclusive", f"--pid={proc.pid}", "--utility",
                              str(rootfs)], capture_output=True, text=True, env=env_with(config))
        assert out.returncode == 0, out.stderr
        (record,) = allocation.holdings(state_dir=configured)
        assert record.owner.pid == proc.pid and [u.label for u in record.units] == ["2"]
        ps = subprocess.run([*NVC, "ps"], capture_output=True, text=True, env=env_with(config))
        rows = [line.split() for line in ps.stdout.splitlines()[1:]]
        assert [(r[0], r[1], r[4], r[5]) for r in rows] == [("2", "gpu", str(proc.pid), "exclusive")]
        # NVC_STATE_DIR overrides the key; --state-dir overrides both
        other = str(tmp_path / "other")
        ps = subprocess.run([*NVC, "ps"], capture_output=True, text=True,
                            env=env_with(config, NVC_STATE_DIR=other))
        assert ps.stdout.splitlines()[1:] == []
        ps = subprocess.run([*NVC, "ps", f"--state-dir={configured}"], capture_output=True, text=True,
                            env=env_with(config, NVC_STATE_DIR=other))
        assert len(ps.stdout.splitlines()) == 2
    finally:
        proc.close()


def _launcher(directory: Path) -> Path:
    """This checkout's hook under the name engines look for (the PATH's may be another checkout's)."""
    path = directory / "nvidia-container-runtime-hook"
    made = subprocess.run([sys.executable, "-m", "nvcontainer.launchers", str(path)], cwd=REPO,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    return path


def test_hook_prestart_and_poststop_use_the_configured_registry(sim_driver, config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    configured = tmp_path / "configured"
    hook = _launcher(tmp_path)
    # The hook gets only what the shim gives it: where the config is (no NVC_STATE_DIR).
    bundle = make_runc_bundle(tmp_path / "bundle", ["/bin/true"], prestart=[[str(hook), "prestart"]],
                              hook_env=[f"NVIDIA_CTK_CONFIG_FILE_PATH={config}"],
                              env={"NVIDIA_VISIBLE_DEVICES": "auto:1", "NVIDIA_GPU_ACCESS": "exclusive"})
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr
    records = sorted(p for p in os.listdir(configured) if p.endswith(".json"))
    assert len(records) == 1, "the prestart hook recorded the GPU in the configured registry"
    key = records[0][:-len(".json")]
    data = json.loads((configured / records[0]).read_text())
    assert data["access"] == "exclusive" and [d["kind"] for d in data["devices"]] == ["gpu"]
    # poststop: the same registry, found through the same config file (-config here)
    state = json.dumps({"ociVersion": "1.0.2", "id": key, "status": "stopped", "pid": 0, "bundle": str(bundle)})
    done = subprocess.run([str(hook), "-config", str(config), "poststop"], input=state, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stderr == ""
    assert not [p for p in os.listdir(configured) if p.endswith(".json")]


def test_the_shim_passes_the_override_to_its_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docker gives the hook it adds for --gpus dockerd's environment; the hook our shim inserts
    gets the same NVC_STATE_DIR, so an override cannot split the two either."""
    from nvcontainer.runtime.main import hook_environment

    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.delenv(allocation.STATE_DIR_ENV, raising=False)
    monkeypatch.delenv("NVC_SNAPSHOT_DIR", raising=False)
    assert hook_environment(str(config)) == (f"NVIDIA_CTK_CONFIG_FILE_PATH={config}",)
    monkeypatch.setenv(allocation.STATE_DIR_ENV, "/srv/allocations")
    assert hook_environment(str(config)) == (f"NVIDIA_CTK_CONFIG_FILE_PATH={config}",
                                             "NVC_STATE_DIR=/srv/allocations")
    # and the snapshot directory (or "off"), so that an engine's setting reaches the hook too
    monkeypatch.setenv("NVC_SNAPSHOT_DIR", "off")
    assert hook_environment(str(config))[-1] == "NVC_SNAPSHOT_DIR=off"
