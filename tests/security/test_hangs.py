"""Family: hangs.  No input may block configure forever: a FIFO the image puts where ldconfig reads
(ld.so.conf, an include file, a library symlink) hangs ldconfig, which is then killed at the
deadline with everything undone; host paths that could block (``--ldconfig=@FIFO``, ``@/dev/zero``,
a FIFO config.json) are refused before anything is read; and a killed ``nvc-cli`` takes every child
with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.containers import NVC, mountinfo, tree
from tests.hook.helpers import HOOK, write_config
from tests.security.harness import LIBDIR, Arena, run_cli
from tests.security.targets import descendants, wait_gone

TIMEOUT = 3  # seconds: configure's deadline in these tests (the default is 60)


def _ldconf_fifo(arena: Arena) -> None:
    os.mkfifo(arena.rootfs / "etc/ld.so.conf")


def _include_fifo(arena: Arena) -> None:
    (arena.rootfs / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    (arena.rootfs / "etc/ld.so.conf.d").mkdir()
    os.mkfifo(arena.rootfs / "etc/ld.so.conf.d/evil.conf")


def _library_link_fifo(arena: Arena) -> None:
    os.mkfifo(arena.rootfs / "tmp/fifo")
    libdir = arena.rootfs / LIBDIR.lstrip("/")
    libdir.mkdir(parents=True, exist_ok=True)
    (libdir / "libevil.so.1").symlink_to("../../../tmp/fifo")


def _libdir_conf_to_fifo(arena: Arena) -> None:
    os.mkfifo(arena.rootfs / "tmp/fifo2")
    (arena.rootfs / "opt/lib").mkdir(parents=True)
    (arena.rootfs / "opt/lib/libcuda.so.1").symlink_to("/tmp/fifo2")
    (arena.rootfs / "etc/ld.so.conf").write_text("/opt/lib\n")


IMAGE_FIFOS = {
    "ld.so.conf is a fifo": _ldconf_fifo,
    "an ld.so.conf.d include is a fifo": _include_fifo,
    "a library symlink to a fifo": _library_link_fifo,
    "a configured lib dir holding a link to a fifo": _libdir_conf_to_fifo,
}


@pytest.mark.parametrize("case", sorted(IMAGE_FIFOS))
def test_a_fifo_in_the_image_times_out_ldconfig_and_undoes_everything(arena: Arena, case: str) -> None:
    IMAGE_FIFOS[case](arena)
    ours_before = set(descendants(os.getpid()))  # the arena's container process
    started = time.monotonic()
    outcome = arena.attack(case, expect="refused", timeout=TIMEOUT)
    assert outcome.detail.startswith("nvc-cli: ldcache error: process ldconfig timed out"), outcome.detail
    assert time.monotonic() - started < TIMEOUT + 30  # a hang guard, not a performance figure
    assert wait_gone([p for p in descendants(os.getpid()) if p not in ours_before], 2) == []


@pytest.mark.parametrize("make", ["fifo", "/dev/zero", "/dev/null", "directory", "missing", "symlink to a fifo"])
def test_a_host_ldconfig_that_could_block_is_refused_at_once(arena: Arena, tmp_path: Path, make: str) -> None:
    path = tmp_path / "ldconfig"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "directory":
        path.mkdir()
    elif make == "symlink to a fifo":
        os.mkfifo(tmp_path / "pipe")
        path.symlink_to(tmp_path / "pipe")
    elif make.startswith("/dev/"):
        path = Path(make)
    reasons = {"fifo": "a fifo, not a regular file", "/dev/zero": "a character device, not a regular file",
               "/dev/null": "a character device, not a regular file", "directory": "a directory, not a regular file",
               "missing": "no such file or directory", "symlink to a fifo": "a fifo, not a regular file"}
    outcome = arena.attack(f"--ldconfig=@{make}", cli=["--device=0", "--utility", f"--ldconfig=@{path}"],
                           expect="refused")
    assert outcome.detail == f"nvc-cli: ldcache error: open failed: {path}: {reasons[make]}", outcome.detail


def test_killing_nvc_cli_kills_its_children(arena: Arena) -> None:
    """SIGKILL while ldconfig hangs on a FIFO: the configure child and the ldconfig sandbox die too."""
    _ldconf_fifo(arena)
    cli = subprocess.Popen([*NVC, "--root", str(arena.sim.root), "configure", f"--pid={arena.container.pid}",
                            "--device=0", "--utility", str(arena.rootfs)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        kids = []
        while time.monotonic() < deadline:  # the child and its ldconfig sandbox (and its PID 1)
            kids = descendants(cli.pid)
            if len(kids) >= 2:
                break
            time.sleep(0.05)
        assert len(kids) >= 2, f"no ldconfig sandbox appeared: {kids}"
        time.sleep(0.2)
        kids = descendants(cli.pid)
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait()
        assert wait_gone(kids) == [], f"left running: {kids}"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        assert cli.stderr is not None
        cli.stderr.close()


def _hook(arena: Arena, bundle: Path, config: Path) -> subprocess.CompletedProcess:
    state = json.dumps({"ociVersion": "1.0.2", "id": "c1", "pid": arena.container.pid, "bundle": str(bundle)})
    env = {"PATH": os.environ["PATH"], "NVIDIA_CTK_CONFIG_FILE_PATH": str(config),
           "NVC_STATE_DIR": os.environ["NVC_STATE_DIR"]}
    return subprocess.run([str(HOOK), "prestart"], input=state, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("make", ["fifo", "/dev/zero"])
def test_the_hook_refuses_a_config_json_that_could_block(arena: Arena, tmp_path: Path, make: str) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    if make == "fifo":
        os.mkfifo(bundle / "config.json")
    else:
        (bundle / "config.json").symlink_to("/dev/zero")
    before, before_tree = mountinfo(arena.container.pid), tree(arena.rootfs)
    out = _hook(arena, bundle, write_config(tmp_path / "config.toml", arena.sim.root))
    kind = "a fifo" if make == "fifo" else "a character device"
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"nvc-cli: input error: could not load OCI spec {bundle}/config.json: {kind}, not a regular file"]
    assert mountinfo(arena.container.pid) == before and tree(arena.rootfs) == before_tree
    arena.board.record(arena.family, f"config.json is {make}", "refused", out.stderr.strip())


def test_the_cli_gives_a_deadline_a_stage_error(arena: Arena) -> None:
    """Through nvc-cli (default deadline) a well-formed container still configures: the deadline is
    not in the way of the normal case."""
    out = run_cli("--root", str(arena.sim.root), "configure", f"--pid={arena.container.pid}", "--device=0",
                  "--utility", str(arena.rootfs))
    assert out.kind == "success", out.detail
