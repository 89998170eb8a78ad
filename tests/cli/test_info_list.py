"""nvc-cli info / list as a user runs them, against simulated drivers."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from typing import List

import pytest

from tests.discovery.expect import bus_location, cuda_string, info_text


def nvc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True)


@pytest.mark.parametrize("fixture", ["sim_driver", "sim_driver_rhel"])
def test_info_text_is_the_originals_format(fixture: str, request: pytest.FixtureRequest) -> None:
    sim = request.getfixturevalue(fixture)
    out = nvc("--root", str(sim.root), "info")
    assert out.returncode == 0, out.stderr
    assert out.stdout == info_text(sim.topology)


def test_info_on_the_h100_preset(build_sim) -> None:  # type: ignore[no-untyped-def]
    sim = build_sim(preset="dgx-h100-2")
    out = nvc("--root", str(sim.root), "info")
    assert out.stdout == info_text(sim.topology)
    assert "CUDA version:   12.8\n" in out.stdout


def test_info_csv_and_json(sim_driver) -> None:  # type: ignore[no-untyped-def]
    topo = sim_driver.topology
    out = nvc("--root", str(sim_driver.root), "info", "--csv")
    head, _, body = out.stdout.partition("\n\n")
    assert list(csv.reader(io.StringIO(head))) == [["NVRM version", "CUDA version"],
                                                   [topo.driver_version, cuda_string(topo.cuda_version)]]
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["Device Index", "Device Minor", "Model", "Brand", "GPU UUID", "Bus Location", "Architecture"]
    assert [r[4] for r in rows[1:]] == [g.uuid for g in topo.gpus]
    assert [r[5] for r in rows[1:]] == [bus_location(g.bus_id) for g in topo.gpus]
    data = json.loads(nvc("--root", str(sim_driver.root), "info", "--json").stdout)
    assert [g["uuid"] for g in data["gpus"]] == [g.uuid for g in topo.gpus]
    assert [m["uuid"] for g in data["gpus"] for m in g["migs"]] == [m.uuid for g in topo.gpus for m in g.migs]


def _lib_files(root: str, libdir: str, version: str) -> List[str]:
    d = os.path.join(root, libdir.lstrip("/"))
    return sorted(f"{libdir}/{n}" for n in os.listdir(d) if n.endswith("." + version) and not os.path.islink(
        os.path.join(d, n)) and not n.startswith(("libGL.", "libEGL.", "libGLESv1_CM.", "libGLESv2.")))


def test_list_everything_in_the_originals_order(sim_driver) -> None:  # type: ignore[no-untyped-def]
    root, topo = str(sim_driver.root), sim_driver.topology
    out = nvc("--root", root, "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    minors = [g.minor for g in topo.gpus]
    expected_devices = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"] + [
        f"/dev/nvidia{m}" for m in minors]
    assert lines[:len(expected_devices)] == expected_devices
    rest = lines[len(expected_devices):]
    # MIG access files (and their nodes) of every MIG device come next.
    mig_lines = [line for line in rest if line.startswith(("/proc/driver/nvidia/capabilities", "/dev/nvidia-caps/"))]
    n_migs = sum(len(g.migs) for g in topo.gpus)
    assert len(mig_lines) == 4 * n_migs
    assert rest[:len(mig_lines)] == mig_lines
    rest = rest[len(mig_lines):]
    bins = [line for line in rest if line.startswith("/usr/bin/")]
    assert rest[:len(bins)] == bins and "/usr/bin/nvidia-smi" in bins
    rest = rest[len(bins):]
    version = topo.driver_version
    libs64 = _lib_files(root, "/usr/lib/x86_64-linux-gnu", version)
    libs32 = _lib_files(root, "/usr/lib/i386-linux-gnu", version)
    assert sorted(rest[:len(libs64)]) == libs64
    assert rest[0] == f"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{version}"
    assert sorted(rest[len(libs64):len(libs64) + len(libs32)]) == libs32
    tail = rest[len(libs64) + len(libs32):]
    assert tail[:2] == ["/var/run/nvidia-persistenced/socket", "/tmp/nvidia-mps"]
    firmware = f"/lib/firmware/nvidia/{version}"
    assert tail[-2:] == [f"{firmware}/gsp_ga10x.bin", f"{firmware}/gsp_tu10x.bin"]


def test_list_one_device_and_kinds(sim_driver) -> None:  # type: ignore[no-untyped-def]
    root, topo = str(sim_driver.root), sim_driver.topology
    out = nvc("--root", root, "list", "--device=1", "--binaries")
    lines = out.stdout.splitlines()
    assert lines[:5] == ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset",
                         f"/dev/nvidia{topo.gpus[1].minor}"]
    assert all(line.startswith("/usr/bin/") for line in lines[5:]) and lines[5:]
    uuid = topo.gpus[2].uuid
    by_uuid = nvc("--root", root, "list", "--device", uuid.lower()).stdout.splitlines()
    assert by_uuid[-1] == f"/dev/nvidia{topo.gpus[2].minor}"
    mig = topo.gpus[0].migs[1]
    out = nvc("--root", root, "list", "--device=0:1").stdout.splitlines()
    assert out[4] == f"/dev/nvidia{topo.gpus[0].minor}"
    assert out[5] == f"/proc/driver/nvidia/capabilities/gpu{topo.gpus[0].minor}/mig/gi{mig.gi}/access"
    libs = nvc("--root", root, "list", "--libraries").stdout.splitlines()
    assert libs and all("/i386-linux-gnu/" not in p for p in libs)
    assert any("/i386-linux-gnu/" in p for p in nvc("--root", root, "list", "--libraries", "--compat32").stdout.split())


def test_list_json(sim_driver) -> None:  # type: ignore[no-untyped-def]
    plain = nvc("--root", str(sim_driver.root), "list").stdout.splitlines()
    data = json.loads(nvc("--root", str(sim_driver.root), "list", "--json").stdout)
    assert data["paths"] == plain


@pytest.mark.parametrize("args,message", [
    (["list", "--device=9"], "nvc-cli: device error: 9: unknown device"),
    (["list", "--device=GPU-0000"], "nvc-cli: device error: GPU-0000: unknown device"),
    (["list", "--imex-channel=x"], "nvc-cli: error parsing IMEX info: unsupported IMEX channel value: x"),
])
def test_bad_input_is_one_line_and_exit_1(sim_driver, args, message) -> None:  # type: ignore[no-untyped-def]
    out = nvc("--root", str(sim_driver.root), *args)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [message]
    assert out.stdout == ""


@pytest.mark.parametrize("preset,message", [
    ("dgx-a100-driver-not-loaded", "nvc-cli: initialization error: nvml error: driver not loaded"),
    ("dgx-a100-rm-mismatch", "nvc-cli: initialization error: nvml error: rm has detected an nvml/rm version mismatch."),
    ("dgx-a100-no-permission", "nvc-cli: initialization error: nvml error: insufficient permissions"),
    ("dgx-a100-gpu-lost", "nvc-cli: detection error: nvml error: gpu is lost"),
])
def test_error_injection_messages(build_sim, preset: str, message: str) -> None:  # type: ignore[no-untyped-def]
    sim = build_sim(preset=preset)
    for command in ("info", "list"):
        out = nvc("--root", str(sim.root), command)
        assert out.returncode == 1
        assert out.stderr.splitlines() == [message]
        assert "Traceback" not in out.stderr


def test_no_driver_points_to_root_and_the_simulator(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = nvc("--root", str(tmp_path), "info")
    lines = out.stderr.splitlines()
    assert out.returncode == 1
    assert lines[0] == ("nvc-cli: initialization error: load library failed: libnvidia-ml.so.1: "
                        "cannot open shared object file: no such file or directory")
    assert "--root" in lines[1] and "nvcontainer.simulate" in lines[1]


def test_version_and_unknown_option() -> None:
    out = nvc("--version")
    assert out.returncode == 0 and out.stdout.startswith("cli-version: ")
    bad = nvc("info", "--frobnicate")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == ["nvc-cli info: unrecognized option '--frobnicate'",
                                       "Try `nvc-cli info --help' or `nvc-cli info --usage' for more information."]


def test_debug_log_records_warnings(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "debug.log"
    out = nvc("--debug", str(log), "--root", str(sim_driver.root), "info")
    assert out.returncode == 0
    text = log.read_text()
    assert "-- WARNING, the following logs are for debugging purposes only --" in text
