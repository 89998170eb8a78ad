"""``nvc-cli list`` with MIG devices and ``--mig-config`` / ``--mig-monitor``, against what NVIDIA's
nvidia-container-cli 1.17 prints on the same simulated roots (issue 18, points 1 and 2).

The expected outputs are data files in ``tests/cli/data``, written from NVIDIA's rules (src/cli/list.c
and print_all_mig_minor_devices in src/cli/common.c):

* per MIG device: the GPU instance's ``access`` file, the compute instance's, then (in the "dev"
  caps style: an ``nvidia-caps`` major in /proc/devices) the two cap nodes;
* ``--mig-config=all``: every MIG-capable GPU selected, MIG mode on or off; the config file (and
  its node), then per GPU its ``capabilities/gpuN`` directory and (dev style) ``/dev/nvidia-caps``
  and every cap node ``mig-minors`` lists for that GPU, in the file's order.  On the 8-GPU preset
  that is 1081 cap nodes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import List

import pytest

from tests.containers import nvc

DATA = Path(__file__).parent / "data"


def expected(name: str) -> List[str]:
    return (DATA / name).read_text().splitlines()


def listed(root: Path, *args: str) -> List[str]:
    out = nvc("--root", str(root), "list", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_mig_config_all_lists_every_mig_capable_gpu(sim_driver) -> None:  # type: ignore[no-untyped-def]
    lines = listed(sim_driver.root, "--device=all", "--mig-config=all")
    assert lines == expected("nvidia-list-device-all-mig-config-all.dgx-a100.txt")
    assert sum(line.startswith("/dev/nvidia-caps/nvidia-cap") for line in lines) == 1081


def test_mig_monitor_all_is_the_same_with_the_monitor_cap(sim_driver) -> None:  # type: ignore[no-untyped-def]
    want = ["/proc/driver/nvidia/capabilities/mig/monitor" if line.endswith("/mig/config") else
            "/dev/nvidia-caps/nvidia-cap2" if line == "/dev/nvidia-caps/nvidia-cap1" else line
            for line in expected("nvidia-list-device-all-mig-config-all.dgx-a100.txt")]
    assert listed(sim_driver.root, "--device=all", "--mig-monitor=all") == want


def test_mig_off_gpu_of_the_h100_preset(build_sim) -> None:  # type: ignore[no-untyped-def]
    sim = build_sim(preset="dgx-h100-mig")
    assert not sim.topology.gpus[2].mig_enabled
    assert listed(sim.root, "--device=2", "--mig-monitor=all") == expected(
        "nvidia-list-device-2-mig-monitor-all.dgx-h100-mig.txt")


def test_mig_devices_list_both_access_files_then_both_nodes(build_sim) -> None:  # type: ignore[no-untyped-def]
    sim = build_sim(preset="dgx-h100-mig")
    assert listed(sim.root, "--device=all") == expected("nvidia-list-device-all.dgx-h100-mig.txt")


def test_mig_config_needs_a_selected_gpu(build_sim) -> None:  # type: ignore[no-untyped-def]
    sim = build_sim(preset="dgx-h100-2")  # H100s: MIG-capable
    assert "/proc/driver/nvidia/capabilities/mig/config" in listed(sim.root, "--device=0", "--mig-config=all")
    assert listed(sim.root, "--mig-config=all") == []  # no device selected: nothing to configure


@pytest.fixture(scope="module")
def proc_style_root(build_sim, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """The dgx-h100-mig root without an ``nvidia-caps`` major: the "proc" caps style."""
    sim = build_sim(preset="dgx-h100-mig")
    root = tmp_path_factory.mktemp("proc-style") / "root"
    subprocess.run(["cp", "-a", str(sim.root), str(root)], check=True)
    devices = root / "proc/devices"
    devices.write_text("".join(line for line in devices.read_text().splitlines(keepends=True)
                               if not line.rstrip().endswith(" nvidia-caps")))
    return root


def test_proc_caps_style_lists_no_cap_nodes(proc_style_root: Path) -> None:
    assert listed(proc_style_root, "--device=all") == expected("nvidia-list-device-all.dgx-h100-mig.proc-caps.txt")
    lines = listed(proc_style_root, "--device=all", "--mig-config=all")
    assert lines[-4:] == ["/proc/driver/nvidia/capabilities/mig/config", "/proc/driver/nvidia/capabilities/gpu0",
                          "/proc/driver/nvidia/capabilities/gpu1", "/proc/driver/nvidia/capabilities/gpu2"]
    assert not any(line.startswith("/dev/nvidia-caps") for line in lines)


def test_gpus_that_are_not_mig_capable_get_no_caps(build_sim, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """A mixed host: an L40S (no MIG), an A100 with MIG mode off, another L40S.  Only the A100 is
    MIG-capable (NVML answers its MIG mode), so only its caps are listed."""
    l40s = {"name": "NVIDIA L40S", "compute_capability": "8.9", "architecture": 8, "pci_device_id": "0x26B910DE",
            "memory_total": 48 * 2**30}
    a100 = {"name": "NVIDIA A100-SXM4-40GB", "compute_capability": "8.0", "architecture": 7,
            "pci_device_id": "0x20B010DE", "memory_total": 40 * 2**30}
    topology = tmp_path_factory.mktemp("mixed") / "mixed.json"
    topology.write_text(json.dumps({"driver_version": "550.54.15", "cuda_version": 12040, "gpus": [
        dict(l40s, bus_id="00000000:07:00.0"), dict(a100, bus_id="00000000:0F:00.0"),
        dict(l40s, bus_id="00000000:47:00.0")]}))
    sim = build_sim(topology=str(topology))
    lines = listed(sim.root, "--device=all", "--mig-config=all")
    assert [line for line in lines if line.startswith("/proc/")] == [
        "/proc/driver/nvidia/capabilities/mig/config", "/proc/driver/nvidia/capabilities/gpu1"]
    assert sum(line.startswith("/dev/nvidia-caps/nvidia-cap") for line in lines) == 1 + 135
