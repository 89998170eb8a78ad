"""containerd config.toml v1/v2/v3: the runtime added with tomlkit, everything else kept byte for byte."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from nvcontainer.engines import containerd
from tests.engines.ctk import SHIM, configure, load_toml

PLUGINS = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}

HAND_WRITTEN = textwrap.dedent('''\
    # containerd configuration, hand written
    version = 2
    root = "/var/lib/containerd"   # keep me

    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"   # the default
      snapshotter = 'overlayfs'

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = true   # systemd

    # the end
    [plugins."io.containerd.internal.v1.opt"]
      path = "/opt/containerd"
    ''')


def variant(version: int) -> str:
    text = HAND_WRITTEN.replace('"io.containerd.grpc.v1.cri"', f'"{PLUGINS[version]}"')
    return text.replace("version = 2\n", "" if version == 1 else f"version = {version}\n")


def nvidia_block(version: int) -> str:
    p = f'plugins."{PLUGINS[version]}"'  # quoted as in the variant, even "cri"
    return (f'\n  [{p}.containerd.runtimes.nvidia]\n    runtime_type = "io.containerd.runc.v2"\n'
            f'    [{p}.containerd.runtimes.nvidia.options]\n      SystemdCgroup = true   # systemd\n'
            f'      BinaryName = "{SHIM}"\n')


@pytest.mark.parametrize("version", [1, 2, 3])
def test_versions_byte_for_byte(tmp_path: Path, version: int) -> None:
    path = tmp_path / "config.toml"
    text = variant(version)
    path.write_text(text)
    out = configure("containerd", path, "--set-as-default")
    assert out.returncode == 0, out.stderr
    new = path.read_text()
    # exactly two edits: the default's value, and the nvidia table after the runc table (the
    # comment in front of the next table stays in front of it)
    expected = text.replace('default_runtime_name = "runc"', 'default_runtime_name = "nvidia"')
    cut = expected.index("\n# the end")
    assert new == expected[:cut] + nvidia_block(version) + expected[cut:]
    doc = load_toml(new)
    ctd = doc["plugins"][PLUGINS[version]]["containerd"]
    assert ctd["default_runtime_name"] == "nvidia"
    assert ctd["runtimes"]["nvidia"] == {"runtime_type": "io.containerd.runc.v2",
                                         "options": {"SystemdCgroup": True, "BinaryName": SHIM}}
    assert (tmp_path / "config.toml.bak").read_text() == text
    assert configure("containerd", path, "--set-as-default").returncode == 0
    assert path.read_text() == new, "a second run changes nothing"


@pytest.mark.parametrize("old,version", [(None, 2), ("", 2), ("# just a comment\n", 2), ("version = 3\n", 3),
                                         ("[plugins]\n", 1)])
def test_new_or_bare_file_gets_defaults(old: str | None, version: int) -> None:
    new = containerd.edit(old, path="c", name="nvidia", runtime_path=SHIM, set_as_default=False)
    doc = load_toml(new)
    assert doc.get("version", 1) == version
    assert doc["plugins"][PLUGINS[version]]["containerd"]["runtimes"]["nvidia"] == {
        "runtime_type": "io.containerd.runc.v2", "runtime_root": "", "runtime_engine": "",
        "privileged_without_host_devices": False, "options": {"BinaryName": SHIM}}
    assert new.startswith(old or "")


def test_template_is_the_default_runtime_unless_it_is_ours() -> None:
    old = textwrap.dedent('''\
        version = 2
        [plugins."io.containerd.grpc.v1.cri".containerd]
          default_runtime_name = "kata"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]
          runtime_type = "io.containerd.kata.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]
          runtime_type = "io.containerd.runc.v2"
          pod_annotations = ["a"]
        ''')
    runtimes = load_toml(containerd.edit(old, path="c", name="nvidia", runtime_path=SHIM, set_as_default=False))[
        "plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    assert runtimes["nvidia"]["runtime_type"] == "io.containerd.kata.v2"
    nvidia_default = old.replace('"kata"', '"nvidia-cdi"')
    runtimes = load_toml(containerd.edit(nvidia_default, path="c", name="nvidia", runtime_path=SHIM,
                                             set_as_default=False))["plugins"]["io.containerd.grpc.v1.cri"][
        "containerd"]["runtimes"]
    assert runtimes["nvidia"] == {"runtime_type": "io.containerd.runc.v2", "pod_annotations": ["a"],
                                  "options": {"BinaryName": SHIM}}, "nvidia* defaults are skipped, crun is next"


def test_real_default_config_diff_is_only_ours(tmp_path: Path) -> None:
    """containerd 1.6's own `config default` output: a minimal diff, and containerd reads the result."""
    path = tmp_path / "config.toml"
    default = subprocess.run(["containerd", "config", "default"], capture_output=True, text=True, check=True).stdout
    path.write_text(default)
    assert configure("containerd", path, "--set-as-default", "--cdi.enabled").returncode == 0
    new = path.read_text()
    removed = [line for line in default.splitlines() if line not in new.splitlines()]
    assert removed == ['      default_runtime_name = "runc"']
    added = [line for line in new.splitlines() if line not in default.splitlines()]
    assert added[:3] == ["    enable_cdi = true", '      default_runtime_name = "nvidia"',
                         '        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]']
    assert f'            BinaryName = "{SHIM}"' in added
    dump = subprocess.run(["containerd", "--config", str(path), "config", "dump"], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    merged = load_toml(dump.stdout)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    assert merged["default_runtime_name"] == "nvidia"
    assert merged["runtimes"]["nvidia"]["options"]["BinaryName"] == SHIM


def test_config_source_command(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    out = configure("containerd", path, "--config-source=command")
    assert out.returncode == 0, out.stderr
    doc = load_toml(path.read_text())
    assert "io.containerd.grpc.v1.cri" in doc["plugins"] and "io.containerd.internal.v1.opt" in doc["plugins"]
    runtimes = doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    assert runtimes["nvidia"]["options"]["BinaryName"] == SHIM and "runc" in runtimes


@pytest.mark.parametrize("text,problem", [
    ("version = = 2\n", "invalid TOML"),
    ("version = 7\n", "unsupported containerd config version: 7"),
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\ncontainerd = 3\n', "'containerd' is not a table"),
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\ncontainerd = { runtimes = { runc = {} } }\n',
     "cannot edit"),
])
def test_bad_file_refused_and_untouched(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    out = configure("containerd", path)
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith(f"nvc-ctk: config error: {path}: {problem}")
    assert path.read_text() == text


def test_relative_runtime_path_refused(tmp_path: Path) -> None:
    out = configure("containerd", tmp_path / "c.toml", "--runtime-path=nvidia-container-runtime")
    assert out.returncode == 1 and "must be absolute" in out.stderr and not (tmp_path / "c.toml").exists()
