"""Family: inputs.  Numbers of thousands of digits, digits that are not ASCII, out-of-range pids,
deep or mistyped JSON and huge lists: each is one ``nvc-cli: <stage> error: ...`` line and exit 1
(never a traceback, never ``internal error``), and nothing is mounted.  Lists are de-duplicated in
linear time and capped (``nvcontainer.bounds``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from nvcontainer.bounds import MAX_LIST_ITEMS
from nvcontainer.errors import InputError
from nvcontainer.hook.request import _device_list
from tests.containers import mountinfo, tree
from tests.hook.helpers import HOOK, write_config
from tests.security.harness import Arena

HUGE = "9" * 5000
STAGE_LINE = "nvc-cli: {} error: "


CLI_CASES = {
    "--device of 5000 digits": (["--device", HUGE], "device", f"{HUGE}: unknown device"),
    "--device of 5000 zeros then 1": (["--device", "0" * 5000 + "1"], None, None),
    "--device with a superscript digit": (["--device", "²"], "device", "²: unknown device"),
    "--device MIG of huge numbers": (["--device", f"{HUGE}:{HUGE}"], "device", f"{HUGE}:{HUGE}: unknown device"),
    "--require cuda>= 5000 digits": (["--require", f"cuda>={HUGE}"], "requirement", "invalid expression"),
    "--require driver= 5000 digits": (["--require", f"driver={HUGE}.1"], "requirement", "invalid expression"),
    "--require superscript": (["--require", "cuda>=1²"], "requirement", "invalid expression"),
    "--require arabic-indic digit": (["--require", "cuda>=١٢"], "requirement", "invalid expression"),
    "--imex-channel of 5000 digits": (["--imex-channel", HUGE], None, None),
    "--imex-channel superscript": (["--imex-channel", "²"], None, None),
    "--device auto: 5000 digits": (["--device", f"auto:{HUGE}"], "device", None),
    "--device auto superscript": (["--device", "auto:²"], "device", "auto:²: invalid device count"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_numbers(arena: Arena, case: str) -> None:
    args, stage, message = CLI_CASES[case]
    if case.startswith("--imex-channel"):
        expect_line = f"nvc-cli: error parsing IMEX info: unsupported IMEX channel value: {args[1][:64]}"
        expect_line += "..." if len(args[1]) > 64 else ""
    else:
        expect_line = None
    outcome = arena.attack(case, cli=[*args, "--utility"], expect=None)
    if stage is None and expect_line is None:  # 0000...01 is GPU 1
        assert outcome.kind == "success", outcome.detail
        return
    assert outcome.kind == "refused", outcome.detail
    if expect_line is not None:
        assert outcome.detail == expect_line
        return
    assert outcome.detail.startswith(STAGE_LINE.format(stage)), outcome.detail
    if message is not None:
        assert outcome.detail == STAGE_LINE.format(stage) + message


PIDS = {
    "-1": "container error: pid {ppid} is not in a mount namespace of its own (it is ours): refusing to mount into "
          "the host's mount table",  # as NVIDIA's: no positive pid means the parent process
    "2147483648": "input error: parse pid failed: numerical result out of range",  # NVIDIA's strtol into pid_t
    "9223372036854775808": "input error: parse pid failed: numerical result out of range",
    str(2**70): "input error: parse pid failed: numerical result out of range",
    "4194305": "container error: invalid pid 4194305: not a process id",  # above the kernel's PID_MAX_LIMIT
    "12abc": "input error: parse pid failed: invalid argument",
}


@pytest.mark.parametrize("pid", sorted(PIDS))
def test_cli_pids(arena: Arena, pid: str) -> None:
    from tests.security.harness import run_cli

    out = run_cli("--root", str(arena.sim.root), "configure", f"--pid={pid}", "--device=0", "--utility",
                  str(arena.rootfs))
    assert out.kind == "refused", out.detail
    assert out.detail == "nvc-cli: " + PIDS[pid].format(ppid=os.getpid()), out.detail
    arena.board.record(arena.family, f"--pid={pid[:20]}", "refused", out.detail)


# --- the hook: the container's env and the runtime's JSON ---------------------------------------------


def _bundle(tmp: Path, rootfs: Path, env: List[str], spec: Optional[Dict[str, Any]] = None,
            raw: Optional[str] = None) -> Path:
    bundle = tmp / f"bundle-{len(list(tmp.glob('bundle-*')))}"
    bundle.mkdir()
    config = spec if spec is not None else {"ociVersion": "1.0.2", "root": {"path": str(rootfs)},
                                             "process": {"env": env, "args": ["true"]}}
    (bundle / "config.json").write_text(raw if raw is not None else json.dumps(config))
    return bundle


def _hook(arena: Arena, bundle: Path, state: Optional[str] = None) -> subprocess.CompletedProcess:
    config = write_config(arena.tmp / "config.toml", arena.sim.root)
    if state is None:
        state = json.dumps({"ociVersion": "1.0.2", "id": "c1", "pid": arena.container.pid, "bundle": str(bundle)})
    env = {"PATH": os.environ["PATH"], "NVIDIA_CTK_CONFIG_FILE_PATH": str(config),
           "NVC_STATE_DIR": os.environ["NVC_STATE_DIR"]}
    return subprocess.run([str(HOOK), "prestart"], input=state, capture_output=True, text=True, env=env, timeout=120)


def _one_line(out: subprocess.CompletedProcess, stage: str) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr[-3000:]
    assert lines[0].startswith(STAGE_LINE.format(stage)), lines[0]
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    return lines[0]


ENV_CASES = {
    "NVIDIA_VISIBLE_DEVICES of 5000 digits": (["NVIDIA_VISIBLE_DEVICES=" + HUGE], "device"),
    "NVIDIA_VISIBLE_DEVICES superscript": (["NVIDIA_VISIBLE_DEVICES=²"], "device"),
    "NVIDIA_VISIBLE_DEVICES over 64 KiB": (["NVIDIA_VISIBLE_DEVICES=" + "0," * 40000], "input"),
    "NVIDIA_VISIBLE_DEVICES too many distinct": (
        ["NVIDIA_VISIBLE_DEVICES=" + ",".join(str(i) for i in range(MAX_LIST_ITEMS + 1))], "input"),
    "NVIDIA_REQUIRE_CUDA of 5000 digits": (["NVIDIA_VISIBLE_DEVICES=0", f"NVIDIA_REQUIRE_CUDA=cuda>={HUGE}"],
                                           "requirement"),
    "NVIDIA_REQUIRE_X superscript": (["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_X=driver>=5²"], "requirement"),
    "CUDA_VERSION superscript": (["NVIDIA_VISIBLE_DEVICES=0", "CUDA_VERSION=²"], "input"),
    "CUDA_VERSION superscript minor": (["NVIDIA_VISIBLE_DEVICES=0", "CUDA_VERSION=12.²"], "input"),
    "CUDA_VERSION of 5000 digits": (["NVIDIA_VISIBLE_DEVICES=0", f"CUDA_VERSION={HUGE}.0"], "input"),
    "NVIDIA_IMEX_CHANNELS of 5000 digits": (["NVIDIA_VISIBLE_DEVICES=0", f"NVIDIA_IMEX_CHANNELS={HUGE}"],
                                            "error parsing IMEX info"),
    "NVIDIA_MIG_CONFIG_DEVICES unprivileged": (["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_MIG_CONFIG_DEVICES=all"],
                                               "input"),
}


@pytest.mark.parametrize("case", sorted(ENV_CASES))
def test_hook_env(arena: Arena, tmp_path: Path, case: str) -> None:
    env, stage = ENV_CASES[case]
    before, before_tree = mountinfo(arena.container.pid), tree(arena.rootfs)
    out = _hook(arena, _bundle(tmp_path, arena.rootfs, env))
    line = _one_line(out, stage) if stage != "error parsing IMEX info" else out.stderr.strip()
    if stage == "error parsing IMEX info":
        assert out.returncode == 1 and line.startswith("nvc-cli: error parsing IMEX info: "), out.stderr
    assert mountinfo(arena.container.pid) == before and tree(arena.rootfs) == before_tree
    arena.board.record(arena.family, case, "refused", line)


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


STATE_CASES = {
    "pid 2**70": json.dumps({"ociVersion": "1.0.2", "pid": 2**70, "bundle": "/x"}),
    "pid negative": json.dumps({"ociVersion": "1.0.2", "pid": -5, "bundle": "/x"}),
    "pid a string": json.dumps({"ociVersion": "1.0.2", "pid": "12", "bundle": "/x"}),
    "pid true": json.dumps({"ociVersion": "1.0.2", "pid": True, "bundle": "/x"}),
    "pid a float": json.dumps({"ociVersion": "1.0.2", "pid": 1.5, "bundle": "/x"}),
    "pid above PID_MAX": json.dumps({"ociVersion": "1.0.2", "pid": 2**22 + 1, "bundle": "/x"}),
    "state nested 100000 deep": '{"pid": ' + _deep(100000) + "}",
    "state nested 70 deep": '{"pid": 1, "x": ' + _deep(70) + "}",
    "state over 1 MiB": json.dumps({"ociVersion": "1.0.2", "pid": 1, "pad": "x" * (2 << 20)}),
    "state a list": "[1, 2]",
    "state not JSON": "{pid: 1}",
    "state bundle a number": json.dumps({"ociVersion": "1.0.2", "pid": 1, "bundle": 5}),
    "state id with a newline": None,
}


@pytest.mark.parametrize("case", sorted(STATE_CASES))
def test_hook_state(arena: Arena, tmp_path: Path, case: str) -> None:
    bundle = _bundle(tmp_path, arena.rootfs, ["NVIDIA_VISIBLE_DEVICES=0"])
    state = STATE_CASES[case]
    if state is None:
        state = json.dumps({"ociVersion": "1.0.2", "id": "c1\n../../x", "pid": arena.container.pid,
                            "bundle": str(bundle)})
    out = _hook(arena, bundle, state)
    line = _one_line(out, "input")
    if case.startswith("pid"):
        assert "invalid pid" in line or "has no pid" in line, line
    if "deep" in case:
        assert line.endswith("nested deeper than 64 levels"), line
    arena.board.record(arena.family, case, "refused", line)


SPEC_CASES = {
    "config.json nested 100000 deep": _deep(100000),
    "config.json env nested 70 deep": '{"ociVersion": "1.0.2", "root": {"path": "/r"}, "process": {"env": '
                                      + _deep(70) + "}}",
    "root a string": json.dumps({"ociVersion": "1.0.2", "root": "/", "process": {"env": []}}),
    "root path a number": json.dumps({"ociVersion": "1.0.2", "root": {"path": 1}, "process": {}}),
    "process a string": json.dumps({"ociVersion": "1.0.2", "root": {"path": "r"}, "process": "x"}),
    "not UTF-8": b"\xff\xfe{}".decode("latin-1"),
    "ociVersion missing": json.dumps({"root": {"path": "r"}, "process": {}}),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_hook_config_json(arena: Arena, tmp_path: Path, case: str) -> None:
    raw = SPEC_CASES[case]
    bundle = _bundle(tmp_path, arena.rootfs, [], raw=raw)
    if case == "not UTF-8":
        (bundle / "config.json").write_bytes(b"\xff\xfe{}")
    out = _hook(arena, bundle)
    line = _one_line(out, "input")
    arena.board.record(arena.family, case, "refused", line)


MISTYPED = {
    "env a string": {"env": "NVIDIA_VISIBLE_DEVICES=0"},
    "env holding numbers": {"env": [1, 2, None]},
    "mounts a number": {"env": ["NVIDIA_VISIBLE_DEVICES=void"], "mounts": 5},
    "capabilities a string": {"env": ["NVIDIA_VISIBLE_DEVICES=void"], "capabilities": "CAP_SYS_ADMIN"},
    "annotations a list": {"env": ["NVIDIA_VISIBLE_DEVICES=void"], "annotations": ["a"]},
}


@pytest.mark.parametrize("case", sorted(MISTYPED))
def test_mistyped_fields_are_not_a_gpu_container(arena: Arena, tmp_path: Path, case: str) -> None:
    """Wrong types in fields the hook reads count as absent: not a GPU container, exit 0, nothing done."""
    fields = MISTYPED[case]
    process: Dict[str, Any] = {"args": ["true"], "env": fields["env"]}
    if "capabilities" in fields:
        process["capabilities"] = fields["capabilities"]
    spec: Dict[str, Any] = {"ociVersion": "1.0.2", "root": {"path": str(arena.rootfs)}, "process": process}
    for key in ("mounts", "annotations"):
        if key in fields:
            spec[key] = fields[key]
    before = mountinfo(arena.container.pid)
    out = _hook(arena, _bundle(tmp_path, arena.rootfs, [], spec=spec))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert mountinfo(arena.container.pid) == before
    arena.board.record(arena.family, case, "success")


def test_device_lists_are_linear_and_capped() -> None:
    """80,000 tokens (49 s with the old quadratic de-duplication): duplicates collapse, distinct ones
    beyond the cap are refused.  (The time is measured in benchmarks/, not asserted here.)"""
    assert _device_list(",".join(["0", "1"] * 40000)) == ("0", "1")
    assert len(_device_list(",".join(str(i) for i in range(MAX_LIST_ITEMS)))) == MAX_LIST_ITEMS
    with pytest.raises(InputError, match=f"^too many devices requested \\(more than {MAX_LIST_ITEMS}\\)$"):
        _device_list(",".join(str(i) for i in range(80000)))


# --- nvc-cdi-hook: the OCI state and config.json a runtime hands a createContainer hook -------------

CDI_HOOK_CASES = {
    "root a string": ({"ociVersion": "1.0.2", "root": "/", "process": {}}, "no root.path"),
    "root path a number": ({"ociVersion": "1.0.2", "root": {"path": 5}}, "no root.path"),
    "config.json a list": ([1, 2], "no root.path"),
    "config.json nested 100000 deep": (_deep(100000), "nested deeper than 64 levels"),
    "root is / by another name": ({"ociVersion": "1.0.2", "root": {"path": "//proc/self/root"}},
                                  "the container root is /: refusing to change the host"),
}


@pytest.mark.parametrize("case", sorted(CDI_HOOK_CASES))
def test_cdi_hook_state_and_spec(arena: Arena, tmp_path: Path, case: str) -> None:
    document, expected = CDI_HOOK_CASES[case]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(document if isinstance(document, str) else json.dumps(document))
    state = json.dumps({"ociVersion": "1.0.2", "id": "c1", "pid": 1, "bundle": str(bundle)})
    out = subprocess.run([sys.executable, "-m", "nvcontainer.cdi.hook", "create-symlinks", "--link",
                          "libcuda.so.1::/usr/lib/libcuda.so"], input=state, capture_output=True, text=True,
                         timeout=60, cwd=str(Path(__file__).resolve().parents[2]))
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith("nvc-cdi-hook: cdi error: ") and lines[0].endswith(expected), lines[0]
    arena.board.record(arena.family, f"cdi hook: {case}", "refused", lines[0])


@pytest.mark.parametrize("state", ['{"pid": ' + _deep(100000) + "}", "[]", "{x", "x" * (2 << 20)],
                         ids=["nested 100000 deep", "a list", "not JSON", "over 1 MiB"])
def test_cdi_hook_state_on_stdin(arena: Arena, state: str) -> None:
    out = subprocess.run([sys.executable, "-m", "nvcontainer.cdi.hook", "create-symlinks"], input=state,
                         capture_output=True, text=True, timeout=60, cwd=str(Path(__file__).resolve().parents[2]))
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith("nvc-cdi-hook: cdi error: failed to load container state: invalid OCI state"), lines
    arena.board.record(arena.family, f"cdi hook state {state[:10]!r}", "refused", lines[0])
