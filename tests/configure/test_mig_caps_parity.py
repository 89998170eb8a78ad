"""``configure --mig-config=all``: the device cgroup rules NVIDIA's nvidia-container-cli 1.17 adds,
in its order (issue 18, point 1), and a real runc container on cgroup v1 that gets them.

NVIDIA's order (src/cli/configure.c, src/nvc_mount.c): the driver's nodes, each selected GPU's
node, then for ``--mig-config=all`` the config cap and, per MIG-capable GPU in selection order,
every minor ``nvidia-caps/mig-minors`` lists for it, in the file's order.  The expected rules are
data: ``tests/configure/data`` in the cgroup v1 ``devices.allow`` format.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import List

from tests.containers import configure_hook, make_runc_bundle, nvc, runc_run

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
ALLOWED = "No such device or address"  # the kernel let the open through; no driver behind the major
DENIED = "Operation not permitted"


def planned_rules(root: Path, rootfs: Path, *args: str) -> List[str]:
    out = nvc("--root", str(root), "configure", "--dry-run", *args, str(rootfs))
    assert out.returncode == 0, out.stderr
    return [f"{r['type']} {r['major']}:{r['minor']} {r['access']}" for r in json.loads(out.stdout)["device_rules"]]


def test_rules_of_mig_config_in_the_originals_order(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = planned_rules(sim_driver.root, tmp_path, "--device=3,0", "--utility", "--mig-config=all")
    assert rules == (DATA / "nvidia-cgroup-rules-device-3,0-mig-config-all.dgx-a100.txt").read_text().splitlines()


def test_mig_config_and_monitor_rules_are_granted_once(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    both = planned_rules(sim_driver.root, tmp_path, "--device=3,0", "--utility", "--mig-config=all",
                         "--mig-monitor=all")
    config = (DATA / "nvidia-cgroup-rules-device-3,0-mig-config-all.dgx-a100.txt").read_text().splitlines()
    # The original adds the GPUs' minors a second time for the monitor cap; a rule is granted once here.
    assert both == config + ["c 511:2 rw"]


def test_runc_container_gets_the_caps_of_a_mig_off_gpu(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """GPU 1 of dgx-a100 has MIG mode off: its cap minors (138.. in mig-minors) are allowed, those
    of GPU 0 (3..137), which is not selected, are not."""
    root = str(sim_driver.root)
    assert not sim_driver.topology.gpus[1].mig_enabled
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    rootfs = bundle / "rootfs"
    probes = {"cap1": 1, "cap138": 138, "cap272": 272, "cap3": 3, "cap273": 273}
    check = "; ".join(f"head -c1 /probe/{name}" for name in probes) + "; ls /dev/nvidia-caps >/dev/null && echo done"
    hook = configure_hook(tmp_path, ["--root", root, "configure", "--device=1", "--utility", "--mig-config=all",
                                     str(rootfs)])
    # runc starts hooks in the bundle directory: PYTHONPATH makes it this checkout's nvc-cli.
    make_runc_bundle(bundle, ["sh", "-c", check], prestart=[hook],
                     hook_env=[f"PYTHONPATH={REPO}", f"PATH={os.environ['PATH']}"])
    (rootfs / "probe").mkdir()
    for name, minor in probes.items():
        os.mknod(rootfs / "probe" / name, 0o666 | stat.S_IFCHR, os.makedev(511, minor))
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr
    assert "done" in out.stdout
    got = {}
    for name in probes:
        line = [text for text in out.stderr.splitlines() if f"/probe/{name}:" in text]
        assert len(line) == 1, out.stderr
        got[name] = ALLOWED if ALLOWED in line[0] else DENIED if DENIED in line[0] else line[0]
    assert got == {"cap1": ALLOWED, "cap138": ALLOWED, "cap272": ALLOWED, "cap3": DENIED, "cap273": DENIED}
