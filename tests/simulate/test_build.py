"""build() and the nvc-simulate command: summary, errors, idempotent rebuilds, speed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nvcontainer.simulate import SimulateError, build, load_topology
from nvcontainer.simulate.builder import MARKER


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nvcontainer.simulate", *args], capture_output=True, text=True,
                          check=False)


def test_cli_builds_and_summarises(tmp_path: Path) -> None:
    dest = tmp_path / "root"
    result = run_cli(str(dest), "--preset", "dgx-h100-2", "--layout", "rhel")
    assert result.returncode == 0, result.stderr
    topo = load_topology("dgx-h100-2")
    assert topo.driver_version in result.stdout and f"{len(topo.gpus)} GPU(s)" in result.stdout
    assert (dest / f"usr/lib64/libnvidia-ml.so.{topo.driver_version}").is_file()
    assert (dest / "etc/redhat-release").is_file()


@pytest.mark.parametrize("args", [["--preset", "no-such"], ["--topology", "/no/such.json"],
                                  ["--layout", "gentoo"], ["--preset", "dgx-a100", "--topology", "x.json"]])
def test_cli_errors_leave_nothing(tmp_path: Path, args: list) -> None:
    dest = tmp_path / "root"
    result = run_cli(str(dest), *args)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nvc-simulate: error: ")
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_cli_bad_topology_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run_cli(str(tmp_path / "root"), "--topology", str(bad))
    assert result.returncode == 1 and result.stderr.startswith("nvc-simulate: error: cannot read topology")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_rebuild_replaces_cleanly(tmp_path: Path) -> None:
    dest = tmp_path / "root"
    first = build(dest, preset="dgx-a100")
    (dest / "stray-file").write_text("left over")
    start = time.monotonic()
    second = build(dest, preset="dgx-h100-2")
    elapsed = time.monotonic() - start
    assert elapsed < 30
    assert not (dest / "stray-file").exists()
    assert not (first.nvml_library).exists() and second.nvml_library.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert (dest / MARKER).is_file()


def test_refuses_to_replace_foreign_directory(tmp_path: Path) -> None:
    dest = tmp_path / "precious"
    dest.mkdir()
    (dest / "data").write_text("keep me")
    with pytest.raises(SimulateError, match="refusing to replace"):
        build(dest)
    assert (dest / "data").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious"]


def test_no_devices(tmp_path: Path) -> None:
    driver = build(tmp_path / "root", devices=False)
    assert not driver.has_devices and not (driver.root / "dev/nvidiactl").exists()
    assert driver.nvml_library.is_file()


def test_devices_need_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SimulateError, match="needs root"):
        build(tmp_path / "root")
    assert list(tmp_path.iterdir()) == []


def test_rootfs_cli_makes_a_root_that_runs_a_glibc_program(tmp_path: Path) -> None:
    dest = tmp_path / "rootfs"
    made = subprocess.run([sys.executable, "-m", "nvcontainer.simulate.bundle", str(dest)], capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert made.stdout == f"container root filesystem at {dest}\n"
    # the loader inside resolves libm's libc through the root's own ld.so.cache
    ran = subprocess.run(["chroot", str(dest), "/lib64/ld-linux-x86-64.so.2", "--list",
                          "/usr/lib/x86_64-linux-gnu/libm.so.6"], capture_output=True, text=True, timeout=30)
    assert "libc.so.6 => /usr/lib/x86_64-linux-gnu/libc.so.6" in ran.stdout, ran.stdout + ran.stderr
    shell = subprocess.run(["chroot", str(dest), "/bin/sh", "-c", "echo inside"], capture_output=True, text=True)
    assert shell.stdout == "inside\n"


@pytest.mark.parametrize("where", ["file/rootfs", "/proc/no-such/rootfs"])
def test_rootfs_cli_errors_are_one_line(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("x")
    target = where if where.startswith("/") else str(tmp_path / where)
    made = subprocess.run([sys.executable, "-m", "nvcontainer.simulate.bundle", target], capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 1 and made.stdout == ""
    lines = made.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nvc-simulate-rootfs: error: "), made.stderr
    assert "Traceback" not in made.stderr
