"""nvcontainer.cdi.validate and ``nvc-ctk cdi validate``: the CDI schema plus the rules it misses."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from nvcontainer.cdi import CdiError
from nvcontainer.cdi.validate import check_files, problems, validate_file

TESTDATA = Path(__file__).resolve().parent / "schema_testdata"  # the CNCF project's schema/testdata

GOOD: Dict[str, Any] = {
    "cdiVersion": "0.5.0",
    "kind": "vendor.com/gpu",
    "devices": [{"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/card0", "hostPath": "/dev/null"}]}}],
    "containerEdits": {
        "env": ["A=1"],
        "mounts": [{"hostPath": "/etc/passwd", "containerPath": "/usr/lib/libx.so.1",
                    "options": ["ro", "nosuid", "nodev", "bind"]}],
        "hooks": [{"hookName": "createContainer", "path": "/bin/true", "args": ["hook"],
                   "env": ["NVIDIA_CTK_DEBUG=false"]}],
    },
}


def ctk(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.ctk", *args], capture_output=True, text=True)


@pytest.mark.parametrize("path", sorted((TESTDATA / "good").glob("*.json")), ids=lambda p: p.name)
def test_schema_testdata_good_is_accepted(path: Path) -> None:
    assert validate_file(str(path)).document


@pytest.mark.parametrize("path", sorted((TESTDATA / "bad").glob("*.json")), ids=lambda p: p.name)
def test_schema_testdata_bad_is_rejected(path: Path) -> None:
    with pytest.raises(CdiError) as info:
        validate_file(str(path))
    assert info.value.message.startswith(f"{path}: ")


def _set(path: List[Any], value: Any) -> Callable[[Dict[str, Any]], None]:
    def change(doc: Dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


BROKEN = [
    ("no-kind", lambda d: d.pop("kind"), "spec: 'kind' is a required property"),
    ("kind-not-vendor-class", _set(["kind"], "vendor.com"), "kind: invalid kind 'vendor.com': not vendor/class"),
    ("kind-bad-vendor", _set(["kind"], "-v.com/gpu"), "kind: invalid vendor '-v.com'"),
    ("kind-bad-class", _set(["kind"], "v.com/gpu/x"), "kind: invalid class 'gpu/x'"),
    ("name-type", _set(["devices", 0, "name"], 5), "devices[0].name: 5 is not of type 'string'"),
    ("name-chars", _set(["devices", 0, "name"], "a b"), "devices[0].name: invalid device name 'a b'"),
    ("name-trailing-colon", _set(["devices", 0, "name"], "0:"), "devices[0].name: invalid device name '0:'"),
    ("duplicate-name", lambda d: d["devices"].append(copy.deepcopy(d["devices"][0])),
     "devices[1].name: device '0' defined more than once (also devices[0])"),
    ("no-devices", _set(["devices"], []), "devices: invalid spec, no devices"),
    ("empty-device-edits", _set(["devices", 0, "containerEdits"], {}),
     "devices[0].containerEdits: invalid device '0': empty containerEdits"),
    ("env-no-equals", _set(["containerEdits", "env"], ["A"]),
     "containerEdits.env[0]: invalid environment variable 'A': not KEY=VALUE"),
    ("env-empty-key", _set(["containerEdits", "env"], ["=x"]), "containerEdits.env[0]: invalid environment"),
    ("hook-env", _set(["containerEdits", "hooks", 0, "env"], ["DEBUG"]),
     "containerEdits.hooks[0].env[0]: invalid environment variable 'DEBUG'"),
    ("hook-relative", _set(["containerEdits", "hooks", 0, "path"], "bin/hook"),
     "containerEdits.hooks[0].path: 'bin/hook' is not an absolute path"),
    ("hook-name", _set(["containerEdits", "hooks", 0, "hookName"], "preStart"),
     "containerEdits.hooks[0].hookName: invalid hook name 'preStart'"),
    ("node-relative", _set(["devices", 0, "containerEdits", "deviceNodes", 0, "path"], "dev/card0"),
     "devices[0].containerEdits.deviceNodes[0].path: 'dev/card0' is not an absolute path"),
    ("node-permissions", _set(["devices", 0, "containerEdits", "deviceNodes", 0, "permissions"], "rwx"),
     "deviceNodes[0].permissions: invalid permissions 'rwx': not a subset of 'rwm'"),
    ("node-type", _set(["devices", 0, "containerEdits", "deviceNodes", 0, "type"], "x"),
     "deviceNodes[0].type: invalid device type 'x'"),
    ("mount-relative", _set(["containerEdits", "mounts", 0, "containerPath"], "usr/lib"),
     "containerEdits.mounts[0].containerPath: 'usr/lib' is not an absolute path"),
    ("mount-host-relative", _set(["containerEdits", "mounts", 0, "hostPath"], "lib.so"),
     "containerEdits.mounts[0].hostPath: 'lib.so' is not an absolute path"),
    ("version-too-low", _set(["cdiVersion"], "0.4.0"),
     "cdiVersion: version 0.4.0 too low for the fields used: needs at least 0.5.0"),
    ("version-unknown", _set(["cdiVersion"], "0.2.0"), "cdiVersion: unsupported version '0.2.0'"),
    ("version-garbage", _set(["cdiVersion"], "latest"), "cdiVersion: unsupported version 'latest'"),
]


@pytest.mark.parametrize("name, change, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_specs_give_one_line_errors(tmp_path: Path, name: str, change: Callable[[Dict[str, Any]], None],
                                           message: str) -> None:
    doc = copy.deepcopy(GOOD)
    assert problems(doc) == []
    change(doc)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CdiError) as info:
        validate_file(str(path))
    assert info.value.message.startswith(f"{path}: ") and message in info.value.message
    assert "\n" not in info.value.line("nvc-ctk")
    out = ctk("cdi", "validate", str(path))
    assert out.returncode == 1 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert lines and all(line.startswith(f"nvc-ctk: cdi error: {path}: ") for line in lines)
    assert any(message in line for line in lines), out.stderr


def test_yaml_spec_dir_and_conflicts(tmp_path: Path) -> None:
    import yaml

    specs = tmp_path / "cdi"
    specs.mkdir()
    (specs / "a.yaml").write_text(yaml.safe_dump(GOOD))
    (specs / "b.json").write_text(json.dumps(GOOD))
    (specs / "notes.txt").write_text("not a spec")
    found = check_files([str(specs / "a.yaml"), str(specs / "b.json")])
    assert found == [f"{specs / 'b.json'}: device vendor.com/gpu=0 conflicts with {specs / 'a.yaml'}"]
    (specs / "b.json").unlink()
    out = ctk("cdi", "validate", "--spec-dir", str(specs))
    assert out.returncode == 0 and out.stdout == f"{specs / 'a.yaml'}: valid\n", out.stderr
    (specs / "c.yaml").write_text("cdiVersion: [unclosed\n")
    out = ctk("cdi", "validate", "--spec-dir", str(specs))
    assert out.returncode == 1
    assert out.stderr.startswith(f"nvc-ctk: cdi error: {specs / 'c.yaml'}: not valid YAML: ")
    assert len(out.stderr.splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    out = ctk("cdi", "validate", "--spec-dir", str(empty))
    assert (out.returncode, out.stdout) == (0, f"no CDI specs in {empty}\n")


def test_validate_without_arguments_checks_the_spec_dirs_and_reports_stale_specs(tmp_path: Path) -> None:
    """Issue 19: `cdi validate` alone validates /etc/cdi and /var/run/cdi; a spec whose host paths are
    gone is stale, not valid.  (Other tests may put specs there too: only our file's lines are judged.)"""
    import uuid

    driver_file = tmp_path / "libdriver.so.1"
    driver_file.write_text("")
    doc = copy.deepcopy(GOOD)
    doc["kind"] = f"vendor.com/gpu-{uuid.uuid4().hex[:8]}"
    doc["containerEdits"]["mounts"][0]["hostPath"] = str(driver_file)
    run_cdi = Path("/var/run/cdi")
    run_cdi.mkdir(parents=True, exist_ok=True)
    path = run_cdi / f"nvc-test-validate-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(doc))
    try:
        out = ctk("cdi", "validate")
        assert f"{path}: valid" in out.stdout.splitlines() and f"{path}: " not in out.stderr, out.stderr
        driver_file.unlink()  # the driver was upgraded: the spec names a file that is gone
        out = ctk("cdi", "validate")
        assert out.returncode == 1
        ours = [line for line in out.stderr.splitlines() if f"{path}: " in line]
        assert ours == [f"nvc-ctk: cdi error: {path}: containerEdits.mounts[0]: stale: {driver_file} does not exist"]
        assert f"{path}: valid" not in out.stdout
    finally:
        path.unlink()


def test_stale_device_nodes_and_hooks(tmp_path: Path) -> None:
    doc = copy.deepcopy(GOOD)
    doc["devices"][0]["containerEdits"]["deviceNodes"][0]["hostPath"] = str(tmp_path / "nvidia9")
    doc["containerEdits"]["hooks"] *= 2
    doc["containerEdits"]["hooks"][0]["path"] = doc["containerEdits"]["hooks"][1]["path"] = str(tmp_path / "hook")
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(doc))
    assert check_files([str(path)]) == [
        f"{path}: containerEdits.hooks[0]: stale: hook program {tmp_path / 'hook'} does not exist",
        f"{path}: devices[0].containerEdits.deviceNodes[0]: stale: device node {tmp_path / 'nvidia9'} does not exist"]
    assert check_files([str(path)], stale=False) == []
