"""The hook and GPU allocation: NVIDIA_VISIBLE_DEVICES=auto:N with NVIDIA_GPU_ACCESS=exclusive
picks a GPU nobody holds, and the poststop hook releases the container's record."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from nvcontainer import allocation
from nvcontainer.discovery import discover
from nvcontainer.simulate import SimulatedDriver
from nvcontainer.simulate.bundle import make_runc_bundle
from tests.containers import runc_run
from tests.hook.helpers import HOOK, nvidia_smi_lines, write_config

SMI = ["/bin/sh", "-c", "nvidia-smi; echo rc=$?"]


def test_auto_exclusive_picks_the_free_gpu_and_poststop_releases_it(sim_driver: SimulatedDriver,
                                                                     tmp_path: Path) -> None:
    state = tmp_path / "allocations"
    driver = discover(str(sim_driver.root))
    whole = [g for g in driver.gpus if not g.mig_enabled]
    free = whole[-1]
    holder = subprocess.Popen(["sleep", "600"])
    try:
        # Another container holds every whole GPU but one, exclusively, and every MIG device.
        taken = ",".join([g.uuid for g in whole[:-1]] + [m.uuid for m in driver.migs])
        allocation.allocate(driver, taken, allocation.owner_of(holder.pid, "other"), exclusive=True,
                            state_dir=str(state))
        # The operator lets containers ask for exclusive GPUs (off by default: tests/security/test_policy.py).
        config = write_config(tmp_path / "config.toml", sim_driver.root,
                              "[nvidia-container-runtime-hook]\naccept-gpu-access-envvar = true\n")
        hook_env = [f"NVIDIA_CTK_CONFIG_FILE_PATH={config}", f"NVC_STATE_DIR={state}"]
        bundle = make_runc_bundle(tmp_path / "bundle", SMI, prestart=[[str(HOOK), "prestart"]], hook_env=hook_env,
                                  env={"NVIDIA_VISIBLE_DEVICES": "auto:1", "NVIDIA_GPU_ACCESS": "exclusive"},
                                  glibc=True)
        import json

        spec = json.loads((bundle / "config.json").read_text())
        spec["hooks"]["poststop"] = [{"path": str(HOOK), "args": [str(HOOK), "poststop"], "env": hook_env}]
        (bundle / "config.json").write_text(json.dumps(spec))
        out = runc_run(bundle)
        assert out.returncode == 0, out.stderr
        assert nvidia_smi_lines(out.stdout) == [f"GPU 0: {free.model} (UUID: {free.uuid})"]
        # The container's own record is gone (poststop), the other container's stays.
        files = sorted(p for p in os.listdir(state) if p.endswith(".json"))
        assert files == ["other.json"]
        # And with everything taken, the next exclusive request is refused with one line.
        again = runc_run(bundle)
        assert again.returncode == 0, again.stderr  # the first container is gone: its GPU is free again
        allocation.allocate(driver, free.uuid, allocation.owner_of(holder.pid, "other"), exclusive=True,
                            state_dir=str(state))
        refused = runc_run(bundle)
        assert refused.returncode != 0
        assert "nvc-cli: device error: auto:1: no GPUs are free" in refused.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_container_reusing_a_running_ones_id_cannot_free_its_gpu(sim_driver: SimulatedDriver,
                                                                   tmp_path: Path) -> None:
    """Two runc roots, one container id: the second container's prestart is refused, and its
    poststop (runc runs it on the failed create) leaves the running one's exclusive GPU held."""
    import json
    import uuid

    state = tmp_path / "allocations"
    config = write_config(tmp_path / "config.toml", sim_driver.root,
                          "[nvidia-container-runtime-hook]\naccept-gpu-access-envvar = true\n")
    hook_env = [f"NVIDIA_CTK_CONFIG_FILE_PATH={config}", f"NVC_STATE_DIR={state}"]
    cid = "shared-" + uuid.uuid4().hex[:8]
    roots = [tmp_path / "runc-a", tmp_path / "runc-b"]
    bundles = []
    for n, (name, args) in enumerate((("victim", ["/bin/sleep", "600"]), ("attacker", SMI))):
        bundle = make_runc_bundle(tmp_path / name, args, prestart=[[str(HOOK), "prestart"]], hook_env=hook_env,
                                  env={"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_GPU_ACCESS": "exclusive"}, glibc=True)
        spec = json.loads((bundle / "config.json").read_text())
        spec["hooks"]["poststop"] = [{"path": str(HOOK), "args": [str(HOOK), "poststop"], "env": hook_env}]
        spec["linux"]["cgroupsPath"] = f"/{cid}-{n}"
        (bundle / "config.json").write_text(json.dumps(spec))
        bundles.append(bundle)
    runc = [["runc", "--root", str(root)] for root in roots]
    try:
        log = tmp_path / "victim.log"
        with log.open("w") as err:  # a detached container keeps its stdio: no pipe we would wait on
            started = subprocess.run([*runc[0], "run", "--detach", "--bundle", str(bundles[0]), cid],
                                     stdout=subprocess.DEVNULL, stderr=err, timeout=120, stdin=subprocess.DEVNULL)
        assert started.returncode == 0, log.read_text()
        record = json.loads((state / f"{cid}.json").read_text())
        attack = subprocess.run([*runc[1], "run", "--bundle", str(bundles[1]), cid], capture_output=True, text=True,
                                timeout=120, stdin=subprocess.DEVNULL)
        assert attack.returncode != 0
        assert f"container {cid} already holds devices" in attack.stderr
        subprocess.run([*runc[1], "delete", "--force", cid], capture_output=True, timeout=60)
        assert json.loads((state / f"{cid}.json").read_text()) == record, "the running container still holds GPU 0"
    finally:
        for r in runc:
            subprocess.run([*r, "delete", "--force", cid], capture_output=True, timeout=60)
    assert not (state / f"{cid}.json").exists(), "its own poststop released it"
