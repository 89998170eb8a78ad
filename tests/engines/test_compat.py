"""nvc-ctk install-compat, and ctr's nvidia-container-cli argv through the compat name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nvcontainer.simulate import SimulatedDriver
from tests.engines.ctk import BIN, ctk

LINKS = (("nvidia-container-cli", "nvc-cli"),)
FILES = ("nvidia-container-runtime-hook", "nvidia-container-runtime")


def test_install_compat_makes_the_names_and_is_idempotent(tmp_path: Path) -> None:
    prefix = tmp_path / "bin"
    out = ctk("install-compat", f"--prefix={prefix}")
    assert out.returncode == 0, out.stderr
    for theirs, ours in LINKS:
        assert os.readlink(prefix / theirs) == str(BIN / ours)
        assert f"{prefix / theirs} -> {BIN / ours}" in out.stdout.splitlines()
    hook, runtime = (prefix / name for name in FILES)
    assert not hook.is_symlink() and hook.read_text().startswith(f"#!{sys.executable} -IS\n")
    assert not runtime.is_symlink() and runtime.read_text().startswith("#!/bin/sh\n")
    assert os.access(hook, os.X_OK) and os.access(runtime, os.X_OK)
    # The front passes `state` straight to runc; the hook answers its own commands.
    state = subprocess.run([str(runtime), "state", "nvc-no-such"], capture_output=True, text=True)
    assert state.returncode != 0 and "container does not exist" in state.stderr
    assert subprocess.run([str(hook), "poststart"], stdin=subprocess.DEVNULL).returncode == 0
    again = ctk("install-compat", f"--prefix={prefix}")
    assert again.returncode == 0 and again.stdout.count("(unchanged)") == 3
    assert sorted(os.listdir(prefix)) == sorted([t for t, _ in LINKS] + list(FILES)), "no temporary file left"


def test_our_old_link_is_replaced_a_foreign_file_is_not(tmp_path: Path) -> None:
    (tmp_path / "nvidia-container-runtime").symlink_to("/old/venv/bin/nvc-container-runtime")
    (tmp_path / "nvidia-container-cli").write_text("someone else's")
    refused = ctk("install-compat", f"--prefix={tmp_path}")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [f"nvc-ctk: input error: {tmp_path}/nvidia-container-cli exists and is "
                                           "not ours (use --force to replace it)"]
    assert sorted(os.listdir(tmp_path)) == ["nvidia-container-cli", "nvidia-container-runtime"], "nothing made"
    assert os.readlink(tmp_path / "nvidia-container-runtime") == "/old/venv/bin/nvc-container-runtime"
    forced = ctk("install-compat", f"--prefix={tmp_path}", "--force")
    assert forced.returncode == 0, forced.stderr
    assert os.readlink(tmp_path / "nvidia-container-cli") == str(BIN / "nvc-cli")
    runtime = tmp_path / "nvidia-container-runtime"
    assert not runtime.is_symlink() and runtime.read_text().startswith("#!/bin/sh\n"), "our old link replaced"


def test_a_foreign_hook_file_is_not_ours_an_edited_launcher_is(tmp_path: Path) -> None:
    assert ctk("install-compat", f"--prefix={tmp_path}").returncode == 0
    hook = tmp_path / "nvidia-container-runtime-hook"
    hook.write_text(hook.read_text().replace("sys.exit(main())", "sys.exit(main())  # edited"))
    out = ctk("install-compat", f"--prefix={tmp_path}")
    hook_line = [x for x in out.stdout.splitlines() if "nvidia-container-runtime-hook ->" in x][0]
    assert out.returncode == 0 and "(unchanged)" not in hook_line
    assert "# edited" not in hook.read_text(), "our own launcher, rewritten"
    hook.write_text("#!/bin/sh\nexec /opt/nvidia/hook \"$@\"\n")
    refused = ctk("install-compat", f"--prefix={tmp_path}")
    assert refused.returncode == 1 and "is not ours" in refused.stderr
    assert hook.read_text().startswith("#!/bin/sh\nexec /opt/nvidia/hook"), "left as it was"


def test_a_directory_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "nvidia-container-runtime-hook").mkdir()
    out = ctk("install-compat", f"--prefix={tmp_path}", "--force")
    assert out.returncode == 1 and "is a directory" in out.stderr
    assert os.listdir(tmp_path) == ["nvidia-container-runtime-hook"]


def test_ctr_argv_shape_through_the_compat_name(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    """ctr passes no --root: the driver root comes from config.toml, as for the original."""
    assert ctk("install-compat", f"--prefix={tmp_path}").returncode == 0
    config = tmp_path / "config.toml"
    config.write_text(f'[nvidia-container-cli]\nroot = "{sim_driver.root}"\n')
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    out = subprocess.run([str(tmp_path / "nvidia-container-cli"), "--load-kmods", "configure", "--device=0",
                          "--compute", "--compat32", "--graphics", "--utility", "--video", "--display", "--pid=1",
                          "--dry-run", str(rootfs)], capture_output=True, text=True,
                         env={**os.environ, "NVIDIA_CTK_CONFIG_FILE_PATH": str(config)})
    assert out.returncode == 0, out.stderr
    targets = [m["target"] for m in json.loads(out.stdout)["mounts"]]
    assert "/dev/nvidia0" in targets and "/dev/nvidia1" not in targets
