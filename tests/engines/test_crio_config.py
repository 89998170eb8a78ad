"""CRI-O: our runtime in a drop-in generated from the main config, as nvidia-ctk 1.20 does.

NVIDIA's behaviour, as data: pkg/config/engine/crio/crio_test.go (TestAddRuntime: which runtime's
settings are copied, what the entry and ``default_runtime`` become) and
cmd/nvidia-ctk/runtime/configure/configure_test.go (the main config is read, never written; the
drop-in gets the runtime).  CRI-O itself is not installed here: its read order -- every file of
``crio.conf.d``, whatever its name, in lexical order, each overriding the ones before
(``filepath.Walk``) -- is written down in ``crio_effective`` and applied to what we leave.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.engines.ctk import SHIM, ctk, load_toml

# (main config, --set-as-default, NVIDIA's drop-in for runtime "test" at /usr/bin/test) — crio_test.go
NVIDIA_ADD_RUNTIME: List[Any] = [
    ("", False, '[crio]\n[crio.runtime.runtimes.test]\nruntime_path = "/usr/bin/test"\nruntime_type = "oci"\n'),
    ("", True, '[crio]\n[crio.runtime]\ndefault_runtime = "test"\n[crio.runtime.runtimes.test]\n'
               'runtime_path = "/usr/bin/test"\nruntime_type = "oci"\n'),
    ('[crio]\n[crio.runtime.runtimes.runc]\nruntime_path = "/usr/bin/runc"\nruntime_type = "runcoci"\n'
     'runc_option = "option"\n', False,
     '[crio]\n[crio.runtime.runtimes.test]\nruntime_path = "/usr/bin/test"\nruntime_type = "oci"\n'
     'runc_option = "option"\n'),
    ('[crio]\n[crio.runtime]\ndefault_runtime = "default"\n[crio.runtime.runtimes.default]\n'
     'runtime_path = "/usr/bin/default"\nruntime_type = "defaultoci"\ndefault_option = "option"\n'
     '[crio.runtime.runtimes.runc]\nruntime_path = "/usr/bin/runc"\nruntime_type = "runcoci"\n'
     'runc_option = "option"\n', False,
     '[crio]\n[crio.runtime]\n[crio.runtime.runtimes.test]\nruntime_path = "/usr/bin/test"\nruntime_type = "oci"\n'
     'default_option = "option"\n'),
    ('[crio]\n[crio.runtime]\ndefault_runtime = "test"\n[crio.runtime.runtimes.test]\n'
     'runtime_path = "/usr/bin/test"\nruntime_type = "oci"\n', True,
     '[crio]\n[crio.runtime]\ndefault_runtime = "test"\n[crio.runtime.runtimes.test]\n'
     'runtime_path = "/usr/bin/test"\nruntime_type = "oci"\n'),
    ('[crio]\n[crio.runtime]\ndefault_runtime = "test"\n[crio.runtime.runtimes.test]\n'
     'runtime_path = "/usr/bin/test"\nruntime_type = "oci"\n', False,
     '[crio]\n[crio.runtime]\n[crio.runtime.runtimes.test]\nruntime_path = "/usr/bin/test"\nruntime_type = "oci"\n'),
]

# crio_test.go TestGetRuntimeConfig's file: crun is the default, with the settings nvidia-ctk copies.
CRUN_DEFAULT = """[crio.image]
signature_policy = "/etc/crio/policy.json"

[crio.runtime]
default_runtime = "crun"

[crio.runtime.runtimes.crun]
runtime_path = "/usr/libexec/crio/crun"
runtime_root = "/run/crun"
monitor_path = "/usr/libexec/crio/conmon"
allowed_annotations = [
    "io.containers.trace-syscall",
]

[crio.runtime.runtimes.runc]
runtime_path = "/usr/libexec/crio/runc"
runtime_root = "/run/runc"
monitor_path = "/usr/libexec/crio/conmon"
"""


def _deep_merge(into: Dict[str, Any], data: Dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def crio_effective(main: Path, drop_in_dir: Path) -> Dict[str, Any]:
    """What CRI-O ends up with: crio.conf, then every file under crio.conf.d in lexical order
    (sub-directories walked too, no name filter), each merged over the ones before."""
    merged: Dict[str, Any] = load_toml(main.read_text()) if main.exists() else {}
    for directory, subdirs, names in sorted(os.walk(drop_in_dir)):
        subdirs.sort()
        for name in sorted(names):
            _deep_merge(merged, load_toml(Path(directory, name).read_text()))
    return merged


def configure(tmp_path: Path, *extra: str, name: str = "nvidia", runtime_path: str = SHIM) -> Any:
    return ctk("runtime", "configure", "--runtime=crio", f"--config={tmp_path / 'crio.conf'}",
               f"--drop-in-config={tmp_path / 'crio.conf.d' / '99-nvidia.toml'}", f"--nvidia-runtime-name={name}",
               f"--runtime-path={runtime_path}", *extra)


@pytest.mark.parametrize("main, default, expected", NVIDIA_ADD_RUNTIME)
def test_the_drop_in_says_what_nvidia_ctks_says(tmp_path: Path, main: str, default: bool, expected: str) -> None:
    if main:
        (tmp_path / "crio.conf").write_text(main)
    out = configure(tmp_path, *(["--set-as-default"] if default else []), name="test", runtime_path="/usr/bin/test")
    assert out.returncode == 0, out.stderr
    assert load_toml((tmp_path / "crio.conf.d/99-nvidia.toml").read_text()) == load_toml(expected)
    assert (tmp_path / "crio.conf").read_text() == main if main else not (tmp_path / "crio.conf").exists()


def test_the_default_runtimes_settings_are_copied(tmp_path: Path) -> None:
    (tmp_path / "crio.conf").write_text(CRUN_DEFAULT)
    assert configure(tmp_path).returncode == 0
    entry = load_toml((tmp_path / "crio.conf.d/99-nvidia.toml").read_text())["crio"]["runtime"]["runtimes"]["nvidia"]
    assert entry == {"runtime_path": SHIM, "runtime_type": "oci", "runtime_root": "/run/crun",
                     "monitor_path": "/usr/libexec/crio/conmon", "allowed_annotations": ["io.containers.trace-syscall"]}
    effective = crio_effective(tmp_path / "crio.conf", tmp_path / "crio.conf.d")
    assert effective["crio"]["runtime"]["default_runtime"] == "crun", "not asked to be the default"
    assert effective["crio"]["runtime"]["runtimes"]["nvidia"] == entry


def test_nothing_but_the_drop_in_is_left_and_stale_files_go(tmp_path: Path) -> None:
    """An earlier version left 99-nvidia.toml.bak (and .lock) in crio.conf.d: read after the drop-in,
    the backup's old runtime_path would win.  configure takes both out and leaves only the drop-in."""
    drop_ins = tmp_path / "crio.conf.d"
    drop_ins.mkdir()
    (drop_ins / "10-site.conf").write_text('[crio.runtime]\nlog_level = "debug"\n')
    (drop_ins / "99-nvidia.toml").write_text('[crio.runtime.runtimes.nvidia]\nruntime_path = "/old"\n')
    (drop_ins / "99-nvidia.toml.bak").write_text('[crio.runtime.runtimes.nvidia]\nruntime_path = "/stale"\n')
    (drop_ins / "99-nvidia.toml.lock").write_text("")
    before = crio_effective(tmp_path / "crio.conf", drop_ins)
    assert before["crio"]["runtime"]["runtimes"]["nvidia"]["runtime_path"] == "/stale", "the rule, as CRI-O reads"
    out = configure(tmp_path, "--set-as-default")
    assert out.returncode == 0, out.stderr
    assert f"removed: {drop_ins}/99-nvidia.toml.bak" in out.stderr
    assert sorted(os.listdir(drop_ins)) == ["10-site.conf", "99-nvidia.toml"]
    assert sorted(os.listdir(tmp_path)) == ["crio.conf.d"], "no temporary file beside it either"
    after = crio_effective(tmp_path / "crio.conf", drop_ins)
    assert after["crio"]["runtime"]["runtimes"]["nvidia"]["runtime_path"] == SHIM
    assert after["crio"]["runtime"]["default_runtime"] == "nvidia"
    assert after["crio"]["runtime"]["log_level"] == "debug", "other drop-ins untouched"
    again = configure(tmp_path, "--set-as-default")
    assert again.returncode == 0 and f"unchanged: {drop_ins}/99-nvidia.toml" in again.stderr
    assert sorted(os.listdir(drop_ins)) == ["10-site.conf", "99-nvidia.toml"]


def test_missing_directories_are_made_and_said(tmp_path: Path) -> None:
    out = configure(tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines[0] == f"created directory: {tmp_path / 'crio.conf.d'}"
    assert lines[1] == f"updated: {tmp_path / 'crio.conf.d/99-nvidia.toml'}"
    assert lines[2] == "restart crio to use it (e.g. `systemctl restart crio`)"


def test_config_source_command(tmp_path: Path) -> None:
    """``--config-source=command`` reads ``crio status config`` (CRI-O is not installed here: a
    stand-in prints a config the way it does)."""
    crio = tmp_path / "crio"
    crio.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'status config' ] || exit 3\ncat <<'EOF'\n{CRUN_DEFAULT}EOF\n")
    crio.chmod(0o755)
    out = configure(tmp_path, "--config-source=command", f"--executable-path={crio}")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "crio.conf.d/99-nvidia.toml").read_text()
    assert f"from `{crio} status config`" in text.splitlines()[0]
    assert load_toml(text)["crio"]["runtime"]["runtimes"]["nvidia"]["runtime_root"] == "/run/crun"


def test_in_place_with_an_empty_drop_in_flag(tmp_path: Path) -> None:
    """``--drop-in-config=''``: NVIDIA would write its (empty) destination over crio.conf, losing
    it; we edit crio.conf in place, keeping everything else as written."""
    path = tmp_path / "crio.conf"
    path.write_text(CRUN_DEFAULT)
    out = ctk("runtime", "configure", "--runtime=crio", f"--config={path}", "--drop-in-config=",
              f"--runtime-path={SHIM}")
    assert out.returncode == 0, out.stderr
    text = path.read_text()
    assert text.startswith(CRUN_DEFAULT)
    assert load_toml(text)["crio"]["runtime"]["runtimes"]["nvidia"] == {"runtime_path": SHIM, "runtime_type": "oci"}


def test_existing_in_place_file_keeps_its_text(tmp_path: Path) -> None:
    path = tmp_path / "99-nvidia.toml"
    old = '# ours\n[crio.runtime.runtimes.nvidia]\nruntime_path = "/old"  # was\nmonitor_path = "/usr/bin/conmon"\n'
    path.write_text(old)
    args = ("runtime", "configure", "--runtime=crio", f"--config={path}", "--drop-in-config=", f"--runtime-path={SHIM}")
    assert ctk(*args).returncode == 0
    assert path.read_text() == old.replace('"/old"', f'"{SHIM}"') + 'runtime_type = "oci"\n'
    again = path.read_text()
    assert ctk(*args).returncode == 0 and path.read_text() == again


@pytest.mark.parametrize("args, message", [
    (["--cdi.enabled"], "not supported for crio"),
    (["--drop-in-config=relative.toml"], "the drop-in-config path 'relative.toml' is not an absolute path"),
    (["--runtime-path=relative"], "the runtime path must be absolute for crio"),
])
def test_bad_flags_write_nothing(tmp_path: Path, args: List[str], message: str) -> None:
    out = ctk("runtime", "configure", "--runtime=crio", f"--config={tmp_path / 'crio.conf'}",
              *([] if any(a.startswith("--drop-in-config") for a in args) else
                [f"--drop-in-config={tmp_path / 'd' / '99.toml'}"]), *args)
    assert out.returncode == 1 and message in out.stderr and len(out.stderr.splitlines()) == 1
    assert os.listdir(tmp_path) == []
