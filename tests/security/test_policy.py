"""Family: policy.  What a tenant may ask for from the image: ``NVIDIA_GPU_ACCESS=exclusive`` with
``NVIDIA_VISIBLE_DEVICES=all`` would lock every GPU against every other tenant, so exclusive
access comes from the container's environment only where the operator accepts it
(``nvidia-container-runtime-hook.accept-gpu-access-envvar``), or from an annotation the operator
named (``gpu-access-annotations``, set by an orchestrator)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Dict, List, Optional

import pytest

from nvcontainer import allocation
from tests.hook.helpers import HOOK, write_config
from tests.security.harness import Arena

ANNOTATION = "example.com/gpu-access"


def _hook(arena: Arena, pid: int, env: List[str], *, config_extra: str = "",
          annotations: Optional[Dict[str, str]] = None, cid: str = "c1") -> subprocess.CompletedProcess:
    bundle = arena.tmp / f"bundle-{cid}"
    bundle.mkdir(exist_ok=True)
    rootfs = arena.tmp / f"rootfs-{cid}"
    if not rootfs.exists():
        from tests.containers import make_rootfs

        make_rootfs(rootfs)
    spec = {"ociVersion": "1.0.2", "root": {"path": str(rootfs)}, "process": {"env": env, "args": ["true"]},
            "annotations": annotations or {}}
    (bundle / "config.json").write_text(json.dumps(spec))
    config = write_config(arena.tmp / f"config-{cid}.toml", arena.sim.root, config_extra)
    state = json.dumps({"ociVersion": "1.0.2", "id": cid, "pid": pid, "bundle": str(bundle)})
    run_env = {"PATH": os.environ["PATH"], "NVIDIA_CTK_CONFIG_FILE_PATH": str(config),
               "NVC_STATE_DIR": os.environ["NVC_STATE_DIR"]}
    return subprocess.run([str(HOOK), "prestart"], input=state, capture_output=True, text=True, env=run_env,
                          timeout=120)


def _access(cid: str) -> Dict[str, str]:
    return {r.key: r.access for r in allocation.holdings(state_dir=os.environ["NVC_STATE_DIR"])}


ASKS = ["NVIDIA_GPU_ACCESS=exclusive", "NVIDIA_GPU_ACCESS=EXCLUSIVE", "NVIDIA_GPU_ACCESS= exclusive "]


@pytest.mark.parametrize("ask", ASKS)
def test_an_image_cannot_lock_every_gpu_by_default(arena: Arena, ask: str) -> None:
    first = _hook(arena, arena.container.pid, ["NVIDIA_VISIBLE_DEVICES=all", ask], cid="greedy")
    assert first.returncode == 0, first.stderr
    assert _access("greedy")["greedy"] == "shared"
    other = arena.new_container()
    second = _hook(arena, other.pid, ["NVIDIA_VISIBLE_DEVICES=0"], cid="neighbour")
    assert second.returncode == 0, second.stderr
    arena.board.record(arena.family, f"image {ask} by default", "refused", "recorded as shared")


def test_an_invalid_value_is_ignored_where_the_variable_is_not_read(arena: Arena) -> None:
    out = _hook(arena, arena.container.pid, ["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_GPU_ACCESS=private"])
    assert out.returncode == 0, out.stderr


def test_the_operator_can_accept_the_variable(arena: Arena) -> None:
    extra = "[nvidia-container-runtime-hook]\naccept-gpu-access-envvar = true\n"
    first = _hook(arena, arena.container.pid, ["NVIDIA_VISIBLE_DEVICES=1", ASKS[0]], config_extra=extra, cid="a")
    assert first.returncode == 0, first.stderr
    assert _access("a")["a"] == "exclusive"
    other = arena.new_container()
    second = _hook(arena, other.pid, ["NVIDIA_VISIBLE_DEVICES=1"], config_extra=extra, cid="b")
    assert second.returncode == 1
    assert second.stderr.strip().startswith("nvc-cli: device error: 1: held exclusively by container a since ")
    bad = _hook(arena, arena.new_container().pid, ["NVIDIA_VISIBLE_DEVICES=2", "NVIDIA_GPU_ACCESS=private"],
                config_extra=extra, cid="c")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "nvc-cli: input error: NVIDIA_GPU_ACCESS=private: expected shared or exclusive"


def test_an_operator_named_annotation_decides(arena: Arena) -> None:
    extra = f'[nvidia-container-runtime-hook]\ngpu-access-annotations = ["{ANNOTATION}"]\n'
    # The annotation counts, the image's variable still does not.
    out = _hook(arena, arena.container.pid, ["NVIDIA_VISIBLE_DEVICES=3"], config_extra=extra,
                annotations={ANNOTATION: "exclusive"}, cid="annotated")
    assert out.returncode == 0, out.stderr
    assert _access("annotated")["annotated"] == "exclusive"
    env_only = _hook(arena, arena.new_container().pid, ["NVIDIA_VISIBLE_DEVICES=4", ASKS[0]], config_extra=extra,
                     cid="env-only")
    assert env_only.returncode == 0 and _access("env-only")["env-only"] == "shared"
    # An annotation the operator did not name is ignored.
    unnamed = _hook(arena, arena.new_container().pid, ["NVIDIA_VISIBLE_DEVICES=5"],
                    annotations={"other.example/gpu-access": "exclusive"}, cid="unnamed")
    assert unnamed.returncode == 0 and _access("unnamed")["unnamed"] == "shared"
    wrong = _hook(arena, arena.new_container().pid, ["NVIDIA_VISIBLE_DEVICES=6"], config_extra=extra,
                  annotations={ANNOTATION: "mine"}, cid="wrong")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == f"nvc-cli: input error: annotation {ANNOTATION}=mine: expected shared or exclusive"
