"""CRI-O: our runtime in a drop-in file."""

from __future__ import annotations

from pathlib import Path

from tests.engines.ctk import SHIM, configure, load_toml


def test_new_drop_in(tmp_path: Path) -> None:
    path = tmp_path / "crio.conf.d" / "99-nvidia.toml"
    out = configure("crio", path, "--set-as-default")
    assert out.returncode == 0, out.stderr
    assert path.read_text() == (f'[crio.runtime]\ndefault_runtime = "nvidia"\n\n'
                                f'[crio.runtime.runtimes.nvidia]\nruntime_path = "{SHIM}"\nruntime_type = "oci"\n')


def test_existing_drop_in_edited_in_place(tmp_path: Path) -> None:
    path = tmp_path / "99-nvidia.toml"
    old = '# ours\n[crio.runtime.runtimes.nvidia]\nruntime_path = "/old"  # was\nmonitor_path = "/usr/bin/conmon"\n'
    path.write_text(old)
    assert configure("crio", path).returncode == 0
    assert path.read_text() == old.replace('"/old"', f'"{SHIM}"') + 'runtime_type = "oci"\n'
    again = path.read_text()
    assert configure("crio", path).returncode == 0 and path.read_text() == again
    assert load_toml(again)["crio"]["runtime"]["runtimes"]["nvidia"]["monitor_path"] == "/usr/bin/conmon"


def test_cdi_flag_refused_for_crio(tmp_path: Path) -> None:
    out = configure("crio", tmp_path / "d.toml", "--cdi.enabled")
    assert out.returncode == 1 and "not supported for crio" in out.stderr and not (tmp_path / "d.toml").exists()
