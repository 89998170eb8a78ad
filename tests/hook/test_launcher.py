"""The -I -S launchers written by ``python -m nvcontainer.launchers``: they start without
site-packages processing, find our modules through the recorded path (or through site, once the
installation moved), and run the hook or the shim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nvcontainer.launchers import import_paths, write_launcher, write_runtime_front


def _write(tmp_path: Path, kind: str) -> Path:
    out = subprocess.run([sys.executable, "-m", "nvcontainer.launchers",
                          *(["--runtime"] if kind == "runtime" else []), str(tmp_path / kind)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tmp_path / kind)
    return tmp_path / kind


def test_shebang_and_recorded_path(tmp_path: Path) -> None:
    launcher = _write(tmp_path, "hook")
    first, *rest = launcher.read_text().splitlines()
    assert first == f"#!{sys.executable} -IS"
    import nvcontainer

    repo = str(Path(nvcontainer.__file__).parent.parent)
    assert repo in import_paths() and f"sys.path.extend({import_paths()!r})" in rest


def test_hook_launcher_runs_without_site(tmp_path: Path) -> None:
    launcher = _write(tmp_path, "hook")
    probe = tmp_path / "probe"
    # Runs the launcher's own code with a main that reports what the interpreter loaded.
    probe.write_text(launcher.read_text().replace("from nvcontainer.hook.main import entry as main",
                                                  "from nvcontainer.hook.main import entry as _m\n"
                                                  "    main = lambda: print(sys.flags.no_site, sys.flags.isolated, "
                                                  "'site' in sys.modules) or 0"))
    probe.chmod(0o755)
    out = subprocess.run([str(probe)], capture_output=True, text=True)
    assert (out.returncode, out.stdout.strip()) == (0, "1 1 False"), out.stderr


def test_moved_installation_falls_back_to_site(tmp_path: Path) -> None:
    launcher = _write(tmp_path, "hook")
    text = launcher.read_text()
    launcher.write_text(text.replace(f"sys.path.extend({import_paths()!r})", "sys.path.extend(['/nonexistent'])"))
    out = subprocess.run([str(launcher), "poststart"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr


def test_runtime_front_passes_through_to_runc(tmp_path: Path) -> None:
    front = _write(tmp_path, "runtime")
    assert front.read_text().startswith("#!/bin/sh\n")
    version = subprocess.run([str(front), "--version"], capture_output=True, text=True)
    assert version.returncode == 0
    lines = version.stdout.splitlines()
    import nvcontainer

    assert lines[0] == f"nvc-container-runtime version {nvcontainer.__version__}", "printed before the exec"
    assert any(line.startswith("runc version") for line in lines[1:]), "runc's own answer follows ours"
    direct = subprocess.run(["runc", "state", "nvc-no-such-container"], capture_output=True, text=True)
    through = subprocess.run([str(front), "state", "nvc-no-such-container"], capture_output=True, text=True)
    assert through.returncode == direct.returncode != 0
    assert "container does not exist" in through.stderr, "runc itself answered"


def test_runtime_front_sends_create_to_the_shim(tmp_path: Path) -> None:
    """``create`` goes through the shim (the hook is added to config.json); ``start`` does not start
    an interpreter at all (it works with a front whose interpreter does not exist)."""
    fake = tmp_path / "fake-runc"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\n')
    fake.chmod(0o755)
    config = tmp_path / "config.toml"
    config.write_text(f'[nvidia-container-runtime]\nruntimes = ["{fake}"]\n')
    front = write_runtime_front(str(tmp_path / "nvidia-container-runtime"), runtime=str(fake))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    spec = {"ociVersion": "1.0.2", "process": {"args": ["sh"], "env": ["NVIDIA_VISIBLE_DEVICES=0"]},
            "root": {"path": "rootfs"}}
    (bundle / "config.json").write_text(json.dumps(spec))
    env = {"NVIDIA_CTK_CONFIG_FILE_PATH": str(config), "PATH": "/usr/bin:/bin"}
    for argv in (["create", "--bundle", str(bundle), "c1"], ["start", "c1"]):
        out = subprocess.run([front, *argv], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
    written = json.loads((bundle / "config.json").read_text())
    assert [h["args"][-1] for h in written["hooks"]["prestart"]] == ["prestart"]
    no_python = write_runtime_front(str(tmp_path / "no-python"), python="/nonexistent/python3", runtime=str(fake))
    assert subprocess.run([no_python, "kill", "c1", "KILL"], env=env).returncode == 0
    assert subprocess.run([no_python, "create", "c2"], env=env, capture_output=True).returncode == 127
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [f"create --bundle {bundle} c1", "start c1", "kill c1 KILL"]


def test_values_that_could_break_out_of_the_files_are_refused(tmp_path: Path) -> None:
    import pytest

    from nvcontainer.errors import InputError

    for runtime in ("/opt/it's/runc", "/usr/bin/runc\ntouch /tmp/nvc-pwned"):
        with pytest.raises(InputError, match="cannot write a launcher with this runtime"):
            write_runtime_front(str(tmp_path / "front"), runtime=runtime)
    with pytest.raises(InputError, match="with this name"):
        write_runtime_front(str(tmp_path / "x\nid #"), runtime="/usr/sbin/runc")
    with pytest.raises(InputError, match="with this name"):
        write_launcher(str(tmp_path / "h"), name='h"""x')
    with pytest.raises(InputError, match="with this python"):
        write_launcher(str(tmp_path / "h"), python="/usr/bin/python3 -c evil")
    assert not list(tmp_path.iterdir()), "nothing written"


def test_the_shim_under_the_front_knows_its_own_path(tmp_path: Path) -> None:
    """Under ``python -c`` argv[0] would be "-c", and "beside this program" the cwd: a hook planted
    in the cwd (a bundle directory) must never be picked.  The front passes its own path."""
    planted = tmp_path / "cwd" / "nvc-container-runtime-hook"
    planted.parent.mkdir()
    planted.write_text("#!/bin/sh\n")
    planted.chmod(0o755)
    front = write_runtime_front(str(tmp_path / "front"), runtime="/bin/true")
    report = "    main = lambda: print(sys.argv[0], find_hook(\"no-such-hook\")) or 0\n"
    probe = Path(front).read_text().replace("from nvcontainer.runtime.main import main\n",
                                            "from nvcontainer.runtime.lookup import find_hook\n" + report, 1)
    Path(front).write_text(probe)
    out = subprocess.run([front, "--version=1"], capture_output=True, text=True, cwd=planted.parent,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    argv0, hook = out.stdout.split()
    assert argv0 == front and hook != str(planted)


def test_write_launcher_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "nvidia-container-runtime-hook"
    path.write_text("old")
    write_launcher(str(path))
    assert path.read_text().startswith("#!") and not list(tmp_path.glob(".*.tmp"))
