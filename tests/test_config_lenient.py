"""config.toml values NVIDIA's toolkit accepts are accepted here too, with a warning (issue 18.15).

NVIDIA's behaviour, as data (toolkit 1.20): go-toml's ``Unmarshal`` ignores keys the ``Config``
struct does not have; the hook turns an empty or unknown ``cuda-compat-mode`` into
``--cuda-compat-mode=disabled`` unless ``allow-cuda-compat-libs-from-container`` is on, when it
passes no flag (the CLI's default, ``mount``; hook_config.go); the runtime logs "invalid log-level"
and uses ``info`` (internal/runtime/logger.go); an unknown ``mode`` loads and is refused when the
runtime or the hook uses it ("invalid mode", assertModeIsLegacy).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, List

import pytest

from nvcontainer.config import Config, parse_config
from nvcontainer.errors import InputError
from nvcontainer.hook.prestart import check_mode
from nvcontainer.launchers import write_launcher
from nvcontainer.simulate import SimulatedDriver
from tests.containers import make_runc_bundle, runc_run
from tests.hook.helpers import nvidia_smi_lines, write_config

REPO = Path(__file__).resolve().parents[1]


def cuda_compat(c: Config) -> str:
    return c.nvidia_container_runtime.modes.legacy.cuda_compat_mode


# (config text, what the toolkit makes of it, read off our model, the warning's words)
ACCEPTED: List[Any] = [
    ("bogus = 1\n", lambda c: c == Config(), "unknown key 'bogus' ignored"),
    ("[nvidia-container-cli]\nrooot = '/x'\n", lambda c: c == Config(),
     "unknown key 'nvidia-container-cli.rooot' ignored"),
    ("[nvidia-container-runtime.modes.cdi]\nspec-dir = []\n", lambda c: c == Config(),
     "unknown key 'nvidia-container-runtime.modes.cdi.spec-dir' ignored"),
    ("[features]\nno-such-feature = true\n", lambda c: c == Config(), "unknown key 'features.no-such-feature'"),
    ("[a-future-table]\nx = 1\n", lambda c: c == Config(), "unknown table 'a-future-table' ignored"),
    ("[nvidia-container-runtime.modes.legacy]\ncuda-compat-mode = ''\n", lambda c: cuda_compat(c) == "disabled",
     "cuda-compat-mode' '' is not one of ldconfig, mount, hook, disabled: using 'disabled'"),
    ("[nvidia-container-runtime.modes.legacy]\ncuda-compat-mode = 'x'\n"
     "[features]\nallow-cuda-compat-libs-from-container = true\n", lambda c: cuda_compat(c) == "mount",
     "using 'mount'"),
    ("[nvidia-container-runtime]\nlog-level = 'loud'\n",
     lambda c: c.nvidia_container_runtime.log_level == "info", "'loud' is not one of panic,"),
    ("[nvidia-container-runtime]\nmode = 'magic'\n", lambda c: c.nvidia_container_runtime.mode == "magic",
     "will refuse GPU containers"),
    ("supported-driver-capabilities = 'compute,magic'\n",
     lambda c: c.supported_driver_capabilities == "compute", "unknown capabilities 'magic': ignored"),
    ("[nvidia-container-cli]\nenvironment = ['NOEQUALS', 'A=1']\n",
     lambda c: c.nvidia_container_cli.environment == ("A=1",), "not NAME=VALUE ignored: 'NOEQUALS'"),
]


@pytest.mark.parametrize("text, effective, warning", ACCEPTED)
def test_accepted_with_a_warning(text: str, effective: Callable[[Config], bool], warning: str) -> None:
    warnings: List[str] = []
    config = parse_config(text, source="/etc/x/config.toml", warnings=warnings)
    assert effective(config)
    assert len(warnings) == 1 and warning in warnings[0], warnings


def test_known_values_give_no_warning() -> None:
    warnings: List[str] = []
    parse_config("[nvidia-container-runtime]\nmode = 'legacy'\nlog-level = 'debug'\n"
                 "[nvidia-container-runtime.modes.legacy]\ncuda-compat-mode = 'mount'\n", warnings=warnings)
    assert warnings == []


def test_unknown_mode_is_refused_where_it_is_used() -> None:
    config = parse_config("[nvidia-container-runtime]\nmode = 'magic'\n")
    with pytest.raises(InputError, match="invoking the NVIDIA Container Runtime Hook directly"):
        check_mode(config)


# NVIDIA 1.20's `nvidia-ctk config default`, plus what later versions and hand edits add.
NVIDIA_FILE = """accept-nvidia-visible-devices-as-volume-mounts = false
accept-nvidia-visible-devices-envvar-when-unprivileged = true
disable-require = false
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"
a-key-from-a-later-toolkit = "yes"

[nvidia-container-cli]
environment = []
ldconfig = "@/sbin/ldconfig"
load-kmods = true
root = "{root}"

[nvidia-container-runtime]
log-level = "info"
mode = "auto"
runtimes = ["runc", "crun"]

[nvidia-container-runtime.modes.legacy]
cuda-compat-mode = ""

[nvidia-container-runtime.modes.some-future-mode]
enabled = true
"""


def test_an_nvidia_config_does_not_stop_a_container_start(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(NVIDIA_FILE.format(root=sim_driver.root))
    hook = write_launcher(str(tmp_path / "hook"))  # this checkout's hook (HOOK is the installed one)
    bundle = make_runc_bundle(tmp_path / "bundle", ["/bin/sh", "-c", "nvidia-smi"],
                              prestart=[[hook, "prestart"]],
                              hook_env=[f"NVIDIA_CTK_CONFIG_FILE_PATH={config}"],
                              env={"NVIDIA_VISIBLE_DEVICES": "0"}, glibc=True)
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr
    gpu = sim_driver.topology.gpus[0]
    assert nvidia_smi_lines(out.stdout) == [f"GPU 0: {gpu.name} (UUID: {gpu.uuid})"]


def test_nvc_ctk_config_prints_the_warnings_on_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", tmp_path,
                          "bogus = 1\n[nvidia-container-runtime]\nlog-level = 'x'\n")
    out = subprocess.run([sys.executable, "-m", "cli.ctk", "config", f"--config-file={config}"],
                         capture_output=True, text=True, cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nvc-ctk: warning: {config}: ")
    assert "unknown key 'nvidia-container-cli.bogus' ignored" in lines[0] and "'x' is not one of" in lines[0]
    assert out.stdout == config.read_text()
