"""``nvc-ctk install-units`` (issues 18.18, 19.12): NVIDIA's nvidia-cdi-refresh units and the udev
rule for the /dev/char links, written for our nvc-ctk; checked by systemd's own verifier.

NVIDIA's files, as data: deployments/systemd/nvidia-cdi-refresh.{service,path} of toolkit 1.20
(directives only), and the udev rule its documentation gives for create-dev-char-symlinks.
Ours differ only where the program is named: nvc-ctk for /usr/bin/nvidia-ctk, and the spec path
passed as ``--output`` (our ``cdi generate`` reads no environment), and ``grep`` from PATH.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import yaml

from nvcontainer.simulate import SimulatedDriver

REPO = Path(__file__).resolve().parents[2]
CTK = "/opt/nvc/bin/nvc-ctk"

NVIDIA_SERVICE = r"""[Unit]
Description=Refresh NVIDIA CDI specification file
ConditionPathExists=|/usr/bin/nvidia-smi
ConditionPathExists=|/usr/sbin/nvidia-smi
ConditionPathExists=|/usr/lib/wsl/lib/nvidia-smi
ConditionPathExists=/usr/bin/nvidia-ctk
StartLimitBurst=5
StartLimitIntervalSec=10s
[Service]
Type=oneshot
Environment=NVIDIA_CTK_CDI_OUTPUT_FILE_PATH=/var/run/cdi/nvidia.yaml
EnvironmentFile=-/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env
ExecCondition=/bin/sh -c '/usr/bin/grep -qE "/(nvidia|nvidia-current)[.]ko" /lib/modules/%v/modules.dep \
|| [ -e /dev/dxg ]'
ExecStart=/bin/sh -c '/usr/bin/nvidia-smi -L || /usr/sbin/nvidia-smi -L || /usr/lib/wsl/lib/nvidia-smi -L'
ExecStart=/usr/bin/nvidia-ctk cdi generate
CapabilityBoundingSet=CAP_SYS_MODULE CAP_SYS_ADMIN CAP_MKNOD
Restart=on-failure
RestartSec=1s
[Install]
WantedBy=multi-user.target
"""
NVIDIA_PATH = """[Unit]
Description=Trigger CDI refresh on NVIDIA driver or toolkit install / upgrade events
[Path]
PathChanged=/lib/modules/%v/modules.dep
PathChanged=/lib/modules/%v/modules.dep.bin
PathChanged=/usr/bin/nvidia-ctk
[Install]
WantedBy=multi-user.target
"""
NVIDIA_UDEV = ('ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", '
               'RUN+="/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all"')


def directives(text: str) -> List[Tuple[str, str]]:
    out = []
    for line in text.replace("\\\n", "").splitlines():  # a unit's line continuation
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.append((key, value))
    return out


def ours(nvidia: str, env_file: str) -> List[Tuple[str, str]]:
    text = nvidia.replace("/usr/bin/nvidia-ctk cdi generate",
                          "/usr/bin/nvidia-ctk cdi generate --output=${NVIDIA_CTK_CDI_OUTPUT_FILE_PATH}")
    text = text.replace("/usr/bin/nvidia-ctk", CTK).replace("'/usr/bin/grep ", "'grep ")
    return directives(text.replace("/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env", env_file))


def install(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.ctk", "install-units", f"--systemd-dir={tmp_path}/systemd",
                           f"--udev-dir={tmp_path}/udev", f"--env-dir={tmp_path}/env", f"--nvc-ctk={CTK}", *extra],
                          capture_output=True, text=True, cwd=str(REPO))


def test_the_units_are_nvidias_with_our_program(tmp_path: Path) -> None:
    out = install(tmp_path)
    assert out.returncode == 0, out.stderr
    env_file = f"{tmp_path}/env/nvidia-cdi-refresh.env"
    assert directives((tmp_path / "systemd/nvidia-cdi-refresh.service").read_text()) == ours(NVIDIA_SERVICE, env_file)
    assert directives((tmp_path / "systemd/nvidia-cdi-refresh.path").read_text()) == ours(NVIDIA_PATH, env_file)
    rule = [line for line in (tmp_path / "udev/71-nvidia-dev-char.rules").read_text().splitlines()
            if line and not line.startswith("#")]
    assert rule == [NVIDIA_UDEV.replace("/usr/bin/nvidia-ctk", CTK)]
    assert out.stdout.splitlines() == [f"wrote: {tmp_path}/systemd/nvidia-cdi-refresh.service",
                                       f"wrote: {tmp_path}/systemd/nvidia-cdi-refresh.path", f"wrote: {env_file}",
                                       f"wrote: {tmp_path}/udev/71-nvidia-dev-char.rules"]
    assert "systemctl enable --now nvidia-cdi-refresh.path" in out.stderr


def test_systemd_accepts_them(tmp_path: Path) -> None:
    ctk = Path(sys.executable).parent / "nvc-ctk"
    out = subprocess.run([sys.executable, "-m", "cli.ctk", "install-units", f"--systemd-dir={tmp_path}/s",
                          f"--udev-dir={tmp_path}/u", f"--env-dir={tmp_path}/e", f"--nvc-ctk={ctk}"],
                         capture_output=True, text=True, cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    units = [str(tmp_path / "s" / n) for n in ("nvidia-cdi-refresh.service", "nvidia-cdi-refresh.path")]
    verified = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert (verified.returncode, verified.stderr) == (0, ""), verified.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(Path(units[0]).read_text().replace(f"ExecStart={ctk}", "ExecStart=relative/nvc-ctk"))
    assert subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True).returncode != 0, \
        "the verifier can fail"


def test_the_services_command_writes_a_spec(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    """The unit's ExecStart, with systemd's ${...} substitution done, pointed at the simulated driver."""
    assert install(tmp_path).returncode == 0
    service = (tmp_path / "systemd/nvidia-cdi-refresh.service").read_text()
    command = [v for k, v in directives(service) if k == "ExecStart"][-1]
    spec = tmp_path / "run/cdi/nvidia.yaml"
    argv = shlex.split(command.replace("${NVIDIA_CTK_CDI_OUTPUT_FILE_PATH}", str(spec)))
    assert argv[0] == CTK and argv[1:] == ["cdi", "generate", f"--output={spec}"]
    out = subprocess.run([sys.executable, "-m", "cli.ctk", *argv[1:], f"--driver-root={sim_driver.root}"],
                         capture_output=True, text=True, cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(spec.read_text())["kind"] == "nvidia.com/gpu"


def test_rerun_edits_foreign_files_and_uninstall(tmp_path: Path) -> None:
    assert install(tmp_path).returncode == 0
    env = tmp_path / "env/nvidia-cdi-refresh.env"
    env.write_text(env.read_text() + "NVIDIA_CTK_CDI_OUTPUT_FILE_PATH=/etc/cdi/nvidia.yaml\n")
    again = install(tmp_path)
    assert again.returncode == 0 and all(line.startswith("unchanged: ") for line in again.stdout.splitlines())
    assert env.read_text().endswith("=/etc/cdi/nvidia.yaml\n"), "the admin's settings are kept"

    rule = tmp_path / "udev/71-nvidia-dev-char.rules"
    rule.write_text(NVIDIA_UDEV + "\n")  # NVIDIA's own file there
    before = snapshot(tmp_path)
    refused = install(tmp_path)
    assert refused.returncode == 1 and refused.stderr == (
        f"nvc-ctk: system error: {rule} exists and is not ours (use --force to replace it)\n")
    assert snapshot(tmp_path) == before, "a refusal writes nothing"
    assert install(tmp_path, "--force").returncode == 0 and "nvcontainer-unit" in rule.read_text()

    rule.write_text(NVIDIA_UDEV + "\n")
    removed = install(tmp_path, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert sorted(os.listdir(tmp_path / "systemd")) == []
    assert rule.exists() and env.exists(), "NVIDIA's rule and the edited settings stay"
    assert f"{rule} is not ours (or was edited): left as it is" in removed.stderr


def snapshot(root: Path) -> Dict[str, str]:
    return {str(p): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_install_compat_uninstall(tmp_path: Path) -> None:
    def compat(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.ctk", "install-compat", f"--prefix={tmp_path}", *args],
                              capture_output=True, text=True, cwd=str(REPO))

    assert compat().returncode == 0
    assert sorted(os.listdir(tmp_path)) == ["nvidia-container-cli", "nvidia-container-runtime",
                                            "nvidia-container-runtime-hook"]
    (tmp_path / "nvidia-container-cli").unlink()
    (tmp_path / "nvidia-container-cli").write_text("#!/bin/sh\n# NVIDIA's\n")
    out = compat("--uninstall")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"removed: {tmp_path}/nvidia-container-runtime-hook",
                                       f"removed: {tmp_path}/nvidia-container-runtime"]
    assert out.stderr == f"nvc-ctk: warning: {tmp_path}/nvidia-container-cli is not ours: left as it is\n"
    assert os.listdir(tmp_path) == ["nvidia-container-cli"]


@pytest.mark.parametrize("value", ["relative/nvc-ctk", "/opt/with space/nvc-ctk", "/opt/%n/nvc-ctk"])
def test_paths_that_would_break_a_unit_are_refused(tmp_path: Path, value: str) -> None:
    out = subprocess.run([sys.executable, "-m", "cli.ctk", "install-units", f"--systemd-dir={tmp_path}/s",
                          f"--udev-dir={tmp_path}/u", f"--env-dir={tmp_path}/e", f"--nvc-ctk={value}"],
                         capture_output=True, text=True, cwd=str(REPO))
    assert out.returncode == 1 and "cannot be written into a unit file" in out.stderr
    assert os.listdir(tmp_path) == []
