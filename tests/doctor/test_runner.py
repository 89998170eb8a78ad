"""The runner (order, one broken check does not hide the others) and the NVML/kernel comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.doctor import ASCII_MARKS, render_text
from nvcontainer.doctor import Check, DoctorOptions, EngineFiles, run_checks
from nvcontainer.doctor import host as host_checks
from nvcontainer.doctor.driver import nvml_check
from nvcontainer.doctor.probe import probe_driver
from nvcontainer.simulate import SimulatedDriver


def test_a_broken_check_is_reported_and_the_rest_still_run(sim_driver: SimulatedDriver, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(host_root: str = "/") -> Check:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(host_checks, "ldconfig_check", boom)
    options = DoctorOptions(root=str(sim_driver.root), path_env=str(tmp_path),
                            engine_files=EngineFiles(docker_config=str(tmp_path / "d.json"),
                                                     cdi_spec_dirs=(str(tmp_path),)))
    checks = run_checks(options)
    names = [c.name for c in checks]
    assert names[:7] == ["kernel-module", "nvml", "persistenced", "device-nodes", "dev-char-symlinks", "cgroups",
                         "ldconfig"]
    broken = checks[6]
    assert broken.ok is False and broken.summary == "the ldconfig check itself failed: RuntimeError: kaboom"
    assert names[-1] == "cdi-spec"


def test_nvml_disagreeing_with_the_kernel_module(sim_driver: SimulatedDriver) -> None:
    probe = probe_driver(str(sim_driver.root))
    assert nvml_check(probe).ok is True
    other = probe.__class__(root=probe.root, dev_root=probe.dev_root, kernel_version="535.161.08",
                            driver=probe.driver)
    check = nvml_check(other)
    assert check.ok is False
    assert check.summary == "NVML reports driver 550.54.15 but kernel module 535.161.08 is loaded"
    assert "reboot" in check.fix


def test_text_rendering_with_ascii_marks() -> None:
    checks = [Check("a", True, "fine"), Check("b", False, "broken", "do this"), Check("c", None, "a note")]
    assert render_text(checks, ASCII_MARKS) == "OK fine\nFAIL broken\n    fix: do this\n- a note\n"
    assert render_text(checks) == "✓ fine\n✗ broken\n    fix: do this\n- a note\n"
