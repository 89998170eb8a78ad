"""The -I -S launchers written by ``python -m nvcontainer.hook.isolation``: they start without
site-packages processing, find our modules through the recorded path (or through site, once the
installation moved), and run the hook or the shim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nvcontainer.hook.isolation import import_paths, write_launcher


def _write(tmp_path: Path, kind: str) -> Path:
    out = subprocess.run([sys.executable, "-m", "nvcontainer.hook.isolation",
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
    probe.write_text(launcher.read_text().replace("from nvcontainer.hook.main import main",
                                                  "from nvcontainer.hook.main import main as _m\n"
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


def test_runtime_launcher_passes_through_to_runc(tmp_path: Path) -> None:
    launcher = _write(tmp_path, "runtime")
    version = subprocess.run([str(launcher), "--version"], capture_output=True, text=True)
    assert version.returncode == 0
    lines = version.stdout.splitlines()
    import nvcontainer

    assert lines[0] == f"nvc-container-runtime version {nvcontainer.__version__}", "printed before the exec"
    assert any(line.startswith("runc version") for line in lines[1:]), "runc's own answer follows ours"
    direct = subprocess.run(["runc", "state", "nvc-no-such-container"], capture_output=True, text=True)
    through = subprocess.run([str(launcher), "state", "nvc-no-such-container"], capture_output=True, text=True)
    assert through.returncode == direct.returncode != 0
    assert "container does not exist" in through.stderr, "runc itself answered"


def test_write_launcher_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "nvidia-container-runtime-hook"
    path.write_text("old")
    write_launcher(str(path))
    assert path.read_text().startswith("#!") and not list(tmp_path.glob(".*.tmp"))
