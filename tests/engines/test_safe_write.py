"""Every engine file write: locked, backed up, atomic, dry-run writes nothing, ENOSPC harmless."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.engines.ctk import CTK, REPO, SHIM, configure, load_toml


@pytest.mark.parametrize("engine,name,text", [
    ("docker", "daemon.json", "{}"),
    ("containerd", "config.toml", "version = 2\n"),
    ("crio", "99-nvidia.toml", "# empty\n"),
])
def test_dry_run_writes_nothing(tmp_path: Path, engine: str, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    out = configure(engine, path, "--dry-run", "--set-as-default")
    assert out.returncode == 0, out.stderr
    assert SHIM in out.stdout and "nvidia" in out.stdout
    assert path.read_text() == text and sorted(os.listdir(tmp_path)) == [name]
    missing = configure(engine, tmp_path / "sub" / name, "--dry-run")
    assert missing.returncode == 0 and not (tmp_path / "sub").exists()


def test_mode_and_owner_kept_and_backup_made(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    os.chmod(path, 0o600)
    os.chown(path, 1234, 5678)
    out = configure("docker", path)
    assert out.returncode == 0 and f"(backup: {path}.bak)" in out.stderr
    st = path.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o600, 1234, 5678)
    backup = Path(f"{path}.bak")
    assert backup.read_text() == '{"debug": true}'
    assert (backup.stat().st_mode & 0o777, backup.stat().st_uid) == (0o600, 1234)


def test_symlinked_config_updates_the_target(tmp_path: Path) -> None:
    real = tmp_path / "real" / "config.toml"
    real.parent.mkdir()
    real.write_text("version = 2\n")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    assert configure("containerd", link).returncode == 0
    assert link.is_symlink() and "BinaryName" in real.read_text()
    assert (real.parent / "config.toml.bak").read_text() == "version = 2\n"


@pytest.mark.parametrize("engine,name", [("docker", "daemon.json"), ("containerd", "config.toml")])
def test_eight_concurrent_runs_all_succeed(tmp_path: Path, engine: str, name: str) -> None:
    path = tmp_path / name
    path.write_text('{"log-level": "warn"}' if engine == "docker" else "version = 2\n")
    procs = [subprocess.Popen([*CTK, "runtime", "configure", f"--runtime={engine}", f"--config={path}",
                               *(["--drop-in-config="] if engine != "docker" else []),
                               f"--runtime-name=r{i}", "--runtime-path=/x"], stderr=subprocess.PIPE, cwd=str(REPO))
             for i in range(8)]
    assert [p.wait() for p in procs] == [0] * 8
    if engine == "docker":
        runtimes = json.loads(path.read_text())["runtimes"]
    else:
        runtimes = load_toml(path.read_text())["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    assert sorted(runtimes) == [f"r{i}" for i in range(8)], "no update was lost"
    mark = '"r{}": {{' if engine == "docker" else "runtimes.r{}]"
    assert [path.read_text().count(mark.format(i)) for i in range(8)] == [1] * 8, "each runtime once"
    assert sorted(os.listdir(tmp_path)) == [name, f"{name}.bak", f"{name}.lock"], "no temporary file left"


def test_same_runtime_eight_times_at_once(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    procs = [subprocess.Popen([*CTK, "runtime", "configure", "--runtime=docker", f"--config={path}",
                               "--runtime-path=/x", "--set-as-default"], stderr=subprocess.PIPE, cwd=str(REPO))
             for _ in range(8)]
    assert [p.wait() for p in procs] == [0] * 8
    text = path.read_text()
    assert json.loads(text) == {"runtimes": {"nvidia": {"args": [], "path": "/x"}}, "default-runtime": "nvidia"}
    assert text.count('"nvidia"') == 2


@pytest.mark.parametrize("engine,name,text", [
    ("docker", "daemon.json", '{"log-level": "warn"}'),
    ("containerd", "config.toml", "version = 2\n# mine\n"),
])
def test_disk_full_leaves_the_file_intact(tmp_path: Path, engine: str, name: str, text: str) -> None:
    # A 16 KiB tmpfs, in a private mount namespace, filled up but for the config file itself.
    small = tmp_path / "small"
    small.mkdir()
    (tmp_path / "orig").write_text(text)
    script = textwrap.dedent(f'''
        set -e
        mount -t tmpfs -o size=16k tmpfs {small}
        cp {tmp_path}/orig {small}/{name}
        chmod 640 {small}/{name}
        dd if=/dev/zero of={small}/fill bs=1k count=64 2>/dev/null || true
        {sys.executable} -m cli.ctk runtime configure --runtime={engine} --config={small}/{name} \\
            {"" if engine == "docker" else "--drop-in-config="} --runtime-path=/x \\
            > {tmp_path}/out 2>&1 || echo "rc=$?" >> {tmp_path}/out
        cat {small}/{name} > {tmp_path}/after
        stat -c %a {small}/{name} > {tmp_path}/mode
        ls -a {small} > {tmp_path}/listing
    ''')
    subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], check=True, cwd=str(REPO))
    out = (tmp_path / "out").read_text().splitlines()
    assert out[-1] == "rc=1"
    assert len(out) == 2 and out[0].startswith("nvc-ctk: config error: write failed: ")
    assert out[0].endswith(": no space left on device")
    assert (tmp_path / "after").read_text() == text and (tmp_path / "mode").read_text() == "640\n"
    assert sorted((tmp_path / "listing").read_text().split()) == [".", "..", name, f"{name}.lock", "fill"]
    assert not os.path.ismount(small), "the tmpfs lived in the child's namespace only"
