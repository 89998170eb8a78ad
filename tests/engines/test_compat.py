"""nvc-ctk install-compat, and ctr's nvidia-container-cli argv through the compat name."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from nvcontainer.simulate import SimulatedDriver
from tests.engines.ctk import BIN, ctk

NAMES = (("nvidia-container-cli", "nvc-cli"), ("nvidia-container-runtime", "nvc-container-runtime"),
         ("nvidia-container-runtime-hook", "nvc-container-runtime-hook"))


def test_install_compat_links_and_is_idempotent(tmp_path: Path) -> None:
    prefix = tmp_path / "bin"
    out = ctk("install-compat", f"--prefix={prefix}")
    assert out.returncode == 0, out.stderr
    for theirs, ours in NAMES:
        assert os.readlink(prefix / theirs) == str(BIN / ours)
        assert f"{prefix / theirs} -> {BIN / ours}" in out.stdout.splitlines()
    again = ctk("install-compat", f"--prefix={prefix}")
    assert again.returncode == 0 and again.stdout.count("(unchanged)") == 3
    assert sorted(os.listdir(prefix)) == sorted(t for t, _ in NAMES), "no temporary link left"


def test_our_old_link_is_replaced_a_foreign_file_is_not(tmp_path: Path) -> None:
    (tmp_path / "nvidia-container-runtime").symlink_to("/old/venv/bin/nvc-container-runtime")
    (tmp_path / "nvidia-container-cli").write_text("someone else's")
    refused = ctk("install-compat", f"--prefix={tmp_path}")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [f"nvc-ctk: input error: {tmp_path}/nvidia-container-cli exists and is "
                                           "not our link (use --force to replace it)"]
    assert sorted(os.listdir(tmp_path)) == ["nvidia-container-cli", "nvidia-container-runtime"], "nothing made"
    assert os.readlink(tmp_path / "nvidia-container-runtime") == "/old/venv/bin/nvc-container-runtime"
    forced = ctk("install-compat", f"--prefix={tmp_path}", "--force")
    assert forced.returncode == 0, forced.stderr
    for theirs, ours in NAMES:
        assert os.readlink(tmp_path / theirs) == str(BIN / ours)


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
