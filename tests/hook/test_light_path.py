"""What a full prestart run imports (simulated driver, 1 GPU, a real mount namespace, started as the
``python -I -S`` launcher starts the hook) is pinned: with the driver snapshot and the config cache
stored, exactly the modules below and nothing else.  A new import on this path, ours or the
standard library's, fails here: each of typing, dataclasses, logging, json, re, tomllib, tempfile,
platform or pickle costs milliseconds on every container start (docs/performance.md).  Without a
snapshot (the first run) the front ends' stack is still never imported."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Set

from benchmarks.hooktarget import HookTarget
from nvcontainer.launchers import import_paths

# The standard library beyond what a bare `python -I -S` has loaded.
STDLIB = {"__future__", "_cffi_backend", "_collections_abc", "_json", "_stat", "_struct", "encodings.ascii", "errno",
          "fcntl", "genericpath", "os", "os.path", "posixpath", "resource", "select", "stat", "struct"}
OURS = {
    "", "allocation", "allocation.claims", "allocation.picking", "allocation.processes", "allocation.records",
    "allocation.registry", "allocation.units", "apply", "apply.cgroups", "apply.enter", "apply.journal",
    "apply.ldconfig", "apply.mounting", "apply.seal", "apply.seccomp", "apply.target", "atomicfile", "bindings",
    "bindings._linux_ffi", "bindings.bpf", "bindings.ffimodules", "bindings.linux", "bindings.linux_decl",
    "bindings.mntns", "bindings.mounts", "bounds", "config", "config.cached", "config.location", "config.schema",
    "container", "discovery", "discovery.components", "discovery.devices", "discovery.elfscan", "driver", "errors",
    "fnv", "hook", "hook.isolation", "hook.main", "hook.prestart", "hook.request", "hook.state", "hostnodes",
    "jsondoc", "log", "plans", "policy", "policy.capabilities", "policy.compat", "policy.imex", "policy.layout",
    "policy.requirements", "policy.selection", "records", "regularfile", "securepath", "snapshot", "snapshot.codec",
    "snapshot.fingerprint", "snapshot.store",
}
NEVER = ("typer", "click", "rich", "pyudev", "elftools", "pycparser", "cffi.cparser", "dataclasses", "inspect",
         "logging", "yaml", "jsonschema", "tempfile", "pickle", "subprocess")

PROBE = """
import sys
base = set(sys.modules)
sys.path.extend({paths!r})
from nvcontainer.hook.main import main
sys.argv = ["hook", "prestart"]
rc = main()
print("mounted:", "nvcontainer.apply.mounting" in sys.modules, file=sys.stderr)
print("modules:", " ".join(sorted(set(sys.modules) - base)), file=sys.stderr)
sys.exit(rc)
"""


def _modules(stderr: str) -> Set[str]:
    lines: List[str] = [line for line in stderr.splitlines() if line.startswith("modules: ")]
    assert lines, stderr
    return set(lines[-1][len("modules: "):].split())


def test_prestart_imports_exactly_the_pinned_modules(tmp_path: Path) -> None:
    target = HookTarget(str(tmp_path))
    argv = [sys.executable, "-I", "-S", "-c", PROBE.format(paths=import_paths())]
    first = target.prime(argv)  # builds the snapshot and the config cache
    assert first.returncode == 0, first.stderr
    assert not [m for m in _modules(first.stderr) if m.split(".")[0] in NEVER or m in NEVER], first.stderr
    second = target.run(argv)
    assert second.returncode == 0, second.stderr
    assert "mounted: True" in second.stderr.splitlines(), "the run configured the container"
    found = _modules(second.stderr)
    ours = {m[len("nvcontainer"):].lstrip(".") for m in found if m.split(".")[0] == "nvcontainer"}
    others = {m for m in found if m.split(".")[0] != "nvcontainer"}
    assert sorted(others - STDLIB) == [], "new standard library imports on the hook path"
    assert sorted(ours - OURS) == [], "new nvcontainer modules on the hook path"
    assert sorted(STDLIB - others) == [] and sorted(OURS - ours) == [], "the pinned set is out of date"
