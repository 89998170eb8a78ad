"""containerd: the runtime in a drop-in the main config imports (the default, as nvidia-ctk 1.20).

NVIDIA's behaviour, as data: cmd/nvidia-ctk/runtime/configure/configure_test.go
(TestConfigureLifecycle, TestConfigureCommandLineSource) and pkg/config/engine/containerd
(config_drop_in.go: the import is ``<drop-in dir>/*.toml``, appended after the imports already
there; an empty config also gets ``version``; the drop-in carries the source's whole CRI plugin
table).  NVIDIA re-renders the main config (keys sorted, comments gone); we add the import in
place, so the data is compared as parsed TOML.  The real containerd (1.6 here) reads the result:
``containerd --config MAIN config dump`` shows what it merged.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.engines.ctk import SHIM, ctk, load_toml
from tests.engines.test_containerd_config import HAND_WRITTEN

CRI = "io.containerd.grpc.v1.cri"


def configure(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return ctk("runtime", "configure", "--runtime=containerd", f"--config={root}/etc/containerd/config.toml",
               f"--drop-in-config={root}/etc/containerd/conf.d/99-nvidia.toml", *extra)


def main_config(root: Path) -> Path:
    return root / "etc/containerd/config.toml"


def drop_in(root: Path) -> Dict[str, Any]:
    return load_toml((root / "etc/containerd/conf.d/99-nvidia.toml").read_text())


def write_main(root: Path, text: str) -> None:
    main_config(root).parent.mkdir(parents=True, exist_ok=True)
    main_config(root).write_text(text)


def runtimes(doc: Dict[str, Any]) -> Dict[str, Any]:
    return doc["plugins"][CRI]["containerd"]["runtimes"]


def test_existing_imports_are_kept_and_ours_appended(tmp_path: Path) -> None:
    write_main(tmp_path, 'version = 2\nimports = ["/foo/bar/*.toml"]\n')
    out = configure(tmp_path, f"--runtime-path={SHIM}")
    assert out.returncode == 0, out.stderr
    # NVIDIA's file: 'imports = ["/foo/bar/*.toml", "<root>/etc/containerd/conf.d/*.toml"]\nversion = 2\n'
    nvidia = {"imports": ["/foo/bar/*.toml", f"{tmp_path}/etc/containerd/conf.d/*.toml"], "version": 2}
    assert load_toml(main_config(tmp_path).read_text()) == nvidia
    assert main_config(tmp_path).read_text() == \
        f'version = 2\nimports = ["/foo/bar/*.toml", "{tmp_path}/etc/containerd/conf.d/*.toml"]\n'


def test_no_main_config(tmp_path: Path) -> None:
    out = configure(tmp_path)
    assert out.returncode == 0, out.stderr
    assert load_toml(main_config(tmp_path).read_text()) == {
        "version": 2, "imports": [f"{tmp_path}/etc/containerd/conf.d/*.toml"]}
    runtime = runtimes(drop_in(tmp_path))["nvidia"]
    assert runtime["options"]["BinaryName"].endswith("nvc-container-runtime-front")  # the sh front, by default
    assert runtime["runtime_type"] == "io.containerd.runc.v2"
    created = [line for line in out.stderr.splitlines() if line.startswith("created directory: ")]
    assert created == [f"created directory: {tmp_path}/etc", f"created directory: {tmp_path}/etc/containerd",
                       f"created directory: {tmp_path}/etc/containerd/conf.d"]


RUNC_DEFAULT = f'''version = 2

[plugins]
  [plugins."{CRI}"]
    [plugins."{CRI}".containerd]
      default_runtime_name = "runc"

      [plugins."{CRI}".containerd.runtimes]
        [plugins."{CRI}".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"

          [plugins."{CRI}".containerd.runtimes.runc.options]
            BinaryName = "/usr/bin/runc"
'''


@pytest.mark.parametrize("args, check", [
    (["--nvidia-set-as-default"],
     lambda d: d["plugins"][CRI]["containerd"]["default_runtime_name"] == "nvidia"),
    (["--cdi.enabled"], lambda d: d["plugins"][CRI]["enable_cdi"] is True),
    (["--nvidia-runtime-name=gpu", "--nvidia-runtime-path=/custom/path/nvidia-container-runtime"],
     lambda d: sorted(runtimes(d)) == ["gpu", "runc"]
     and runtimes(d)["gpu"]["options"]["BinaryName"] == "/custom/path/nvidia-container-runtime"),
], ids=["set-as-default", "enable-cdi", "custom-name-and-path"])
def test_nvidia_lifecycle_cases(tmp_path: Path, args: List[str], check: Any) -> None:
    write_main(tmp_path, RUNC_DEFAULT)
    out = configure(tmp_path, *args)
    assert out.returncode == 0, out.stderr
    assert check(drop_in(tmp_path))
    main = load_toml(main_config(tmp_path).read_text())
    assert main["imports"] == [f"{tmp_path}/etc/containerd/conf.d/*.toml"]
    assert main["plugins"] == load_toml(RUNC_DEFAULT)["plugins"], "the main config's tables are not touched"


def test_the_runtime_copies_runc_and_the_cri_table_is_carried(tmp_path: Path) -> None:
    write_main(tmp_path, HAND_WRITTEN)
    assert configure(tmp_path, f"--runtime-path={SHIM}").returncode == 0
    doc = drop_in(tmp_path)
    assert doc["version"] == 2
    assert runtimes(doc)["nvidia"] == {"runtime_type": "io.containerd.runc.v2",
                                       "options": {"SystemdCgroup": True, "BinaryName": SHIM}}
    assert doc["plugins"][CRI]["containerd"]["snapshotter"] == "overlayfs"
    assert doc["plugins"][CRI]["containerd"]["default_runtime_name"] == "runc"
    assert list(doc["plugins"]) == [CRI], "only the CRI plugin's table"
    assert main_config(tmp_path).read_text() == HAND_WRITTEN.replace(
        'root = "/var/lib/containerd"   # keep me\n',
        f'root = "/var/lib/containerd"   # keep me\nimports = ["{tmp_path}/etc/containerd/conf.d/*.toml"]\n')


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    out = configure(tmp_path, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert f"# {tmp_path}/etc/containerd/conf.d/99-nvidia.toml" in out.stdout
    assert f'imports = ["{tmp_path}/etc/containerd/conf.d/*.toml"]' in out.stdout
    assert os.listdir(tmp_path) == []


def test_second_run_changes_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    write_main(tmp_path, RUNC_DEFAULT)
    assert configure(tmp_path).returncode == 0
    first = (main_config(tmp_path).read_text(), drop_in(tmp_path))
    again = configure(tmp_path)
    assert again.returncode == 0 and "restart" not in again.stderr
    assert (main_config(tmp_path).read_text(), drop_in(tmp_path)) == first
    assert sorted(os.listdir(tmp_path / "etc/containerd")) == ["conf.d", "config.toml", "config.toml.bak",
                                                                "config.toml.lock"]
    assert os.listdir(tmp_path / "etc/containerd/conf.d") == ["99-nvidia.toml"]


def test_version_1_is_edited_in_place(tmp_path: Path) -> None:
    """NVIDIA writes a whole v1 config to the drop-in, which nothing imports; we edit it in place."""
    write_main(tmp_path, '[plugins.cri.containerd]\n  snapshotter = "native"\n')
    out = configure(tmp_path, f"--runtime-path={SHIM}")
    assert out.returncode == 0, out.stderr
    assert "is a version 1 containerd config: edited in place" in out.stderr
    main = load_toml(main_config(tmp_path).read_text())
    assert main["plugins"]["cri"]["containerd"]["runtimes"]["nvidia"]["options"]["BinaryName"] == SHIM
    assert not (tmp_path / "etc/containerd/conf.d").exists()


@pytest.mark.parametrize("drop, message", [
    ("{root}/etc/containerd/99-nvidia.toml", "is beside the main config"),
    ("{root}/etc/containerd/conf.d/99-nvidia.conf", "must end in .toml"),
])
def test_drop_ins_containerd_would_not_read_are_refused(tmp_path: Path, drop: str, message: str) -> None:
    out = ctk("runtime", "configure", "--runtime=containerd", f"--config={tmp_path}/etc/containerd/config.toml",
              f"--drop-in-config={drop.format(root=tmp_path)}")
    assert out.returncode == 1 and message in out.stderr and len(out.stderr.splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_a_failing_main_config_leaves_no_drop_in(tmp_path: Path) -> None:
    write_main(tmp_path, 'version = 2\nimports = "not a list"\n')
    out = configure(tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip() == f"nvc-ctk: config error: {main_config(tmp_path)}: 'imports' is not a list of strings"
    assert os.listdir(tmp_path / "etc/containerd/conf.d") == []


def dump(main: Path) -> Dict[str, Any]:
    out = subprocess.run(["containerd", "--config", str(main), "config", "dump"], capture_output=True, text=True,
                         check=True)
    return load_toml(out.stdout)


def test_containerd_merges_the_drop_in_over_its_own_settings(tmp_path: Path) -> None:
    """containerd 1.6 replaces a plugin's whole table with an imported one (checked first): so
    the drop-in must carry the main file's CRI settings, and with it they survive."""
    main = main_config(tmp_path)
    write_main(tmp_path, f'version = 2\n[plugins."{CRI}"]\n  sandbox_image = "mine:1"\n'
                         f'  [plugins."{CRI}".containerd]\n    snapshotter = "native"\n')
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "x.toml").write_text(f'version = 2\n[plugins."{CRI}".containerd.runtimes.x]\n  runtime_type = "y"\n')
    probe = tmp_path / "probe.toml"
    probe.write_text(main.read_text().replace("version = 2\n", f'version = 2\nimports = ["{partial}/*.toml"]\n'))
    assert dump(probe)["plugins"][CRI]["sandbox_image"] != "mine:1", "containerd replaces the table by key"

    out = configure(tmp_path, f"--runtime-path={SHIM}", "--set-as-default")
    assert out.returncode == 0, out.stderr
    merged = dump(main)["plugins"][CRI]
    assert merged["sandbox_image"] == "mine:1" and merged["containerd"]["snapshotter"] == "native"
    assert merged["containerd"]["default_runtime_name"] == "nvidia"
    assert merged["containerd"]["runtimes"]["nvidia"]["options"]["BinaryName"] == SHIM


def test_config_source_command_reads_containerds_dump(tmp_path: Path) -> None:
    main = main_config(tmp_path)
    write_main(tmp_path, f'version = 2\n[plugins."{CRI}"]\n  sandbox_image = "mine:2"\n')
    wrapper = tmp_path / "containerd"
    wrapper.write_text(f'#!/bin/sh\nexec containerd --config {main} "$@"\n')
    wrapper.chmod(0o755)
    out = configure(tmp_path, "--config-source=command", f"--executable-path={wrapper}")
    assert out.returncode == 0, out.stderr
    doc = drop_in(tmp_path)
    assert doc["plugins"][CRI]["sandbox_image"] == "mine:2"
    assert "runc" in runtimes(doc) and "nvidia" in runtimes(doc), "the effective config, defaults included"
    assert dump(main)["plugins"][CRI]["containerd"]["runtimes"]["nvidia"]["runtime_type"] == "io.containerd.runc.v2"
