"""A full prestart run (simulated driver, 1 GPU, a real mount namespace) must not import what only
front ends or rare paths need: the CLI stack, pyudev, pyelftools, cffi's C parser.  Each was
measured at 25-60 ms per container start (docs/performance.md)."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.hooktarget import HookTarget
from nvcontainer.hook.isolation import import_paths

HEAVY = ("typer", "click", "rich", "pyudev", "elftools", "pycparser", "cffi.cparser", "dataclasses", "inspect",
         "logging")

PROBE = """
import sys
sys.path.extend({paths!r})
from nvcontainer.hook.main import main
sys.argv = ["hook", "prestart"]
rc = main()
print("mounted:", "nvcontainer.apply.mounting" in sys.modules, file=sys.stderr)
print("heavy:", sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
sys.exit(rc)
"""


def test_prestart_imports_nothing_heavy(tmp_path: Path) -> None:
    target = HookTarget(str(tmp_path))
    # Started as the -I -S launcher starts the hook.
    result = target.run([sys.executable, "-I", "-S", "-c", PROBE.format(paths=import_paths(), heavy=HEAVY)])
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "mounted: True" in lines, "the run configured the container"
    assert "heavy: []" in lines, result.stderr
