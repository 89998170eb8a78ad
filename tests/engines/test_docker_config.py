"""daemon.json: our runtime merged in, every other byte kept; the original's lost-features bug fixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvcontainer.engines import docker
from tests.engines.ctk import SHIM, configure

NVIDIA = {"args": [], "path": SHIM}


def test_missing_file_is_created_like_nvidia_ctk(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "docker" / "daemon.json"
    out = configure("docker", path, "--set-as-default", "--cdi.enabled")
    assert out.returncode == 0, out.stderr
    assert path.read_text() == json.dumps({"runtimes": {"nvidia": NVIDIA}, "default-runtime": "nvidia",
                                           "features": {"cdi": True}}, indent=4) + "\n"
    assert not (path.parent / "daemon.json.bak").exists(), "nothing to back up"
    assert oct(path.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("empty", ["", "\n", "   \n\n"])
def test_empty_file(tmp_path: Path, empty: str) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(empty)
    assert configure("docker", path).returncode == 0
    assert json.loads(path.read_text()) == {"runtimes": {"nvidia": NVIDIA}}


def test_features_and_every_other_key_kept(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    original = ('{\n  "log-level": "warn",\n  "features": {"buildkit": true},\n'
                '  "runtimes": {\n    "crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]}\n  },\n'
                '  "max-concurrent-downloads": 3e0,\n  "labels": ["caf\\u00e9", "\u00fcber"],\n'
                '  "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}\n}\n')
    path.write_text(original)
    out = configure("docker", path, "--set-as-default", "--cdi.enabled")
    assert out.returncode == 0, out.stderr
    new = path.read_text()
    got = json.loads(new)
    assert got["features"] == {"buildkit": True, "cdi": True}, "the original loses buildkit here"
    assert got["runtimes"] == {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]}, "nvidia": NVIDIA}
    assert list(got) == ["log-level", "features", "runtimes", "max-concurrent-downloads", "labels",
                         "default-ulimits", "default-runtime"]
    # untouched values keep their very spelling
    for text in ('"log-level": "warn"', '"max-concurrent-downloads": 3e0', '"labels": ["caf\\u00e9", "\u00fcber"]',
                 '"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]}',
                 '"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}'):
        assert text in new
    assert new.startswith('{\n  "log-level": "warn",\n  "features": {"buildkit": true, "cdi": true},\n')
    assert (tmp_path / "daemon.json.bak").read_text() == original


def test_existing_runtimes_and_rerun_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"runtimes": {"nvidia": {"path": "/old"}, "runc2": {"path": "/r"}}}')
    assert configure("docker", path).returncode == 0
    first = path.read_text()
    assert json.loads(first)["runtimes"] == {"nvidia": NVIDIA, "runc2": {"path": "/r"}}
    backup = (tmp_path / "daemon.json.bak").stat().st_mtime_ns
    again = configure("docker", path)
    assert again.returncode == 0 and "unchanged" in again.stderr
    assert path.read_text() == first and (tmp_path / "daemon.json.bak").stat().st_mtime_ns == backup


@pytest.mark.parametrize("text,problem", [
    ('{"runtimes": {', "invalid JSON: Expecting property name enclosed in double quotes at line 1 column 15"),
    ('["a"]', "invalid JSON: the top level is not an object"),
    ('{"runtimes": []}', "'runtimes' is not an object"),
])
def test_bad_file_refused_and_untouched(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(text)
    out = configure("docker", path, "--set-as-default")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.splitlines() == [f"nvc-ctk: config error: {path}: {problem}"]
    assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daemon.json", "daemon.json.lock"]


@pytest.mark.parametrize("old", [
    "{}", '{"a": 1}', '{\n\t"a": {\n\t\t"b": []\n\t}\n}', '  {"runtimes": {}, "features": {}}  ',
    '{"a": 1, "a": 2}', '{"features": {"cdi": false}, "runtimes": {"nvidia": {"args": [], "path": "/x"}}}',
    '{\n    "runtimes": {\n    }\n}\n',
])
def test_edit_means_the_merge_and_is_idempotent(old: str) -> None:
    kwargs = dict(path="daemon.json", name="nvidia", runtime_path="/x", set_as_default=True, enable_cdi=True)
    new = docker.edit(old, **kwargs)  # type: ignore[arg-type]
    expected = json.loads(old)
    expected.setdefault("runtimes", {})["nvidia"] = {"args": [], "path": "/x"}
    expected["default-runtime"] = "nvidia"
    expected.setdefault("features", {})["cdi"] = True
    assert json.dumps(json.loads(new)) == json.dumps(expected)
    assert docker.edit(new, **kwargs) == new  # type: ignore[arg-type]
