"""The public API: every name re-exported by ``nvcontainer`` resolves, and the entry points of the
design (``nvcontainer.discover``, ``nvcontainer.plan``, ``nvcontainer.configure``) are functions
even after their modules are imported."""

from __future__ import annotations

import subprocess
import sys

import nvcontainer


def test_every_export_resolves() -> None:
    for name in nvcontainer.__all__:
        assert getattr(nvcontainer, name) is not None, name


def test_entry_points_are_functions() -> None:
    import nvcontainer.container  # noqa: F401
    import nvcontainer.plans  # noqa: F401

    for name in ("discover", "plan", "configure", "make_plan", "build_plan"):
        assert callable(getattr(nvcontainer, name)) and not isinstance(getattr(nvcontainer, name), type(sys)), name


def test_import_is_cheap() -> None:
    """Importing the package loads neither cffi, typer nor pyudev (the hook's start-up path)."""
    code = "import sys, nvcontainer; print(sorted(m for m in ('cffi', 'typer', 'pyudev', 'click') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hook_module_does_not_import_typer() -> None:
    code = ("import sys, nvcontainer.hook.main, nvcontainer.runtime.main; "
            "print(sorted(m for m in ('typer', 'pyudev', 'click', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
