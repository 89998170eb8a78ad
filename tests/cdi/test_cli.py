"""``nvc-ctk cdi generate|list|validate|transform`` as a user runs them, against NVIDIA's behaviour as data."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

from nvcontainer.cdi.validate import problems
from tests.cdi.test_generate import NVIDIA_HOOK, expected

GOOD: Dict[str, Any] = {"cdiVersion": "0.5.0", "kind": "vendor.com/gpu",
                        "devices": [{"name": "b", "containerEdits": {"env": ["B=1"]}},
                                    {"name": "a", "containerEdits": {"env": ["A=1"]}}]}


def ctk(*args: str, stdin: Optional[str] = None, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.ctk", *args], capture_output=True, text=True, input=stdin,
                          env={**os.environ, **(env or {})})


def test_generate_to_stdout_is_nvidias_spec(sim_driver) -> None:
    root = str(sim_driver.root)
    out = ctk("cdi", "generate", "--driver-root", root, "--nvidia-cdi-hook-path", NVIDIA_HOOK, "--no-driver-proc")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n    - name: \"0:0\"\n")
    assert yaml.safe_load(out.stdout) == expected("dgx-a100-debian", sim_driver.root)
    out = ctk("cdi", "generate", "--mode", "management", "--nvidia-cdi-hook-path", NVIDIA_HOOK, "--no-driver-proc",
              env={"NVIDIA_CTK_DRIVER_ROOT": root})  # the root from nvidia-ctk's environment variable
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["devices"][0]["name"] == "all"


def test_generate_to_files(sim_driver_rhel, tmp_path: Path) -> None:
    root = str(sim_driver_rhel.root)
    specs = tmp_path / "cdi"
    target = specs / "nvidia.json"
    out = ctk("cdi", "generate", "--driver-root", root, "--dev-root", root, "--output", str(target),
              "--vendor", "example.com", "--class", "acc", "--no-all-device",
              "--device-name-strategy", "index", "--device-name-strategy", "type-index")
    assert out.returncode == 0 and out.stdout == "", out.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    document = json.loads(target.read_text())  # JSON because of the file name
    names = [d["name"] for d in document["devices"]]
    assert "all" not in names and names[:4] == ["0:0", "0:1", "0:2", "1"] and "gpu1" in names and "mig0:2" in names
    assert problems(document) == []
    out = ctk("cdi", "list", "--spec-dir", str(specs))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.splitlines() == sorted(f"example.com/acc={n}" for n in names)
    # nvidia-ctk adds the format's extension to a name without one, and warns when --format disagrees.
    out = ctk("cdi", "generate", "--driver-root", root, "--output", str(specs / "plain"))
    assert out.returncode == 0, out.stderr
    assert (specs / "plain.yaml").read_text().startswith("---\ncdiVersion: ")
    out = ctk("cdi", "generate", "--driver-root", root, "--output", str(specs / "x.yaml"), "--format", "json",
              "--device-id", "1")
    assert out.returncode == 0
    assert out.stderr == ("nvc-ctk: warning: requested output format 'json' does not match format implied by "
                          "output file name: 'yaml'\n")
    assert [d["name"] for d in json.loads((specs / "x.yaml").read_text())["devices"]] == [
        "1", sim_driver_rhel.topology.gpus[1].uuid, "all"]


def test_generate_errors_are_one_line(tmp_path: Path, build_sim) -> None:
    sim = build_sim(preset="dgx-h100-2")
    root = str(sim.root)
    cases = [
        (["--format", "toml"], "nvc-ctk: cdi error: invalid output format: toml: use yaml or json\n"),
        (["--vendor", "bad vendor"], "nvc-ctk: cdi error: invalid CDI vendor name: invalid vendor 'bad vendor'\n"),
        (["--device-name-strategy", "x"],
         "nvc-ctk: cdi error: invalid device name strategy 'x': use one of index, uuid, type-index\n"),
        (["--mode", "csv"], "nvc-ctk: cdi error: mode 'csv' is not supported: nvc-ctk has no Tegra (CSV mount spec) "
                            "support; use nvidia-ctk cdi generate on Jetson\n"),
        (["--mode", "wsl"], "nvc-ctk: cdi error: mode 'wsl' is not supported: nvc-ctk has no WSL2 (dxcore) support; "
                            "use nvidia-ctk cdi generate under WSL2\n"),
        (["--nvidia-cdi-hook-path", "bin/hook"],
         "nvc-ctk: cdi error: invalid hook path 'bin/hook': not an absolute path\n"),
    ]
    for args, line in cases:
        out = ctk("cdi", "generate", "--driver-root", root, *args)
        assert (out.returncode, out.stderr, out.stdout) == (1, line, ""), args
    out = ctk("cdi", "generate", "--driver-root", str(tmp_path))
    assert out.returncode == 1 and out.stderr.startswith("nvc-ctk: ") and "libnvidia-ml.so.1" in out.stderr
    dev_root = tmp_path / "devroot"  # the driver's /proc but no device node at all
    shutil.copytree(sim.root / "proc", dev_root / "proc", symlinks=True)
    target = tmp_path / "spec.yaml"
    out = ctk("cdi", "generate", "--driver-root", root, "--dev-root", str(dev_root), "--output", str(target))
    assert out.returncode == 1 and not target.exists()
    assert out.stderr == (f"nvc-ctk: cdi error: invalid device '0': invalid device, empty device edits "
                          f"(no device node for it under {dev_root}/dev)\n")


def test_list_sorts_and_warns(tmp_path: Path) -> None:
    """As nvidia-ctk's list (the CDI cache): sorted names, registry errors as warnings, conflicting
    names left out."""
    specs = tmp_path / "cdi"
    specs.mkdir()
    (specs / "b.json").write_text(json.dumps(GOOD))
    (specs / "c.json").write_text(json.dumps({**GOOD, "devices": [{"name": "a", "containerEdits": {"env": ["C=1"]}}]}))
    (specs / "d.json").write_text(json.dumps({**GOOD, "kind": "bad"}))
    (specs / "e.yaml").write_text("devices: [unclosed\n")
    (specs / "f.json").write_text(json.dumps({**GOOD, "kind": "vendor.com/z",
                                              "devices": [{"name": "1", "containerEdits": {"env": ["Z=1"]}},
                                                          {"name": "0", "containerEdits": {"env": ["Z=0"]}}]}))
    out = ctk("cdi", "list", "--spec-dir", str(specs))
    assert out.returncode == 0
    assert out.stdout.splitlines() == ["vendor.com/gpu=b", "vendor.com/z=0", "vendor.com/z=1"]
    warnings = out.stderr.splitlines()
    assert warnings[0] == (f"nvc-ctk: warning: skipping CDI spec: {specs / 'd.json'}: "
                           "kind: invalid kind 'bad': not vendor/class")
    assert warnings[1].startswith(f"nvc-ctk: warning: skipping CDI spec: {specs / 'e.yaml'}: not valid YAML: ")
    assert warnings[2:] == [f"nvc-ctk: warning: conflicting device vendor.com/gpu=a (specs {specs / 'b.json'}, "
                            f"{specs / 'c.json'}): left out"]
    out = ctk("cdi", "list", env={"NVIDIA_CTK_CDI_SPEC_DIRS": str(specs)})  # nvidia-ctk's variable
    assert out.stdout.splitlines() == ["vendor.com/gpu=b", "vendor.com/z=0", "vendor.com/z=1"]


# nvidia-ctk's root transform (pkg/nvcdi/transform/root): what moves for --relative-to host / container.
TRANSFORM_IN: Dict[str, Any] = {
    "cdiVersion": "0.5.0", "kind": "vendor.com/gpu",
    "devices": [{"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}]}}],
    "containerEdits": {
        "mounts": [{"hostPath": "/run/nvidia/driver/usr/lib/libcuda.so.1", "containerPath": "/run/nvidia/driver/lib/x",
                    "options": ["ro"]},
                   {"hostPath": "/run/nvidia/driver2/lib/y", "containerPath": "/y"}],
        "hooks": [{"hookName": "createContainer", "path": "/run/nvidia/driver/bin/hook",
                   "args": ["hook", "create-symlinks", "--link", "/run/nvidia/driver/a::/run/nvidia/driver/b"]},
                  {"hookName": "prestart", "path": "/run/nvidia/driver/bin/hook", "args": ["/run/nvidia/driver/x"]},
                  {"hookName": "startContainer", "path": "/run/nvidia/driver/bin/s", "args": ["/run/nvidia/driver/s"]}],
    },
}
TRANSFORM_HOST: Dict[str, Any] = {
    "devices": [{"name": "0",
                 "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0", "hostPath": "/dev/nvidia0"}]}}],
    "mounts": [("/usr/lib/libcuda.so.1", "/run/nvidia/driver/lib/x"), ("/run/nvidia/driver2/lib/y", "/y")],
    "hooks": [("/bin/hook", ["hook", "create-symlinks", "--link", "/run/nvidia/driver/a::/run/nvidia/driver/b"]),
              ("/bin/hook", ["/x"]), ("/run/nvidia/driver/bin/s", ["/run/nvidia/driver/s"])],
}
TRANSFORM_CONTAINER: Dict[str, Any] = {
    "mounts": [("/run/nvidia/driver/usr/lib/libcuda.so.1", "/lib/x"), ("/run/nvidia/driver2/lib/y", "/y")],
    "hooks": [("/run/nvidia/driver/bin/hook", ["hook", "create-symlinks", "--link", "/a::/b"]),
              ("/run/nvidia/driver/bin/hook", ["/run/nvidia/driver/x"]), ("/bin/s", ["/s"])],
}


def _moved(document: Dict[str, Any]) -> Dict[str, Any]:
    edits = document["containerEdits"]
    return {"mounts": [(m["hostPath"], m["containerPath"]) for m in edits["mounts"]],
            "hooks": [(h["path"], h["args"]) for h in edits["hooks"]]}


def test_transform_root(tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text(yaml.safe_dump(TRANSFORM_IN))
    out = ctk("cdi", "transform", "root", "--from", "/run/nvidia/driver", "--to", "/", "--input", str(source))
    assert out.returncode == 0, out.stderr
    host = yaml.safe_load(out.stdout)
    assert _moved(host) == {k: TRANSFORM_HOST[k] for k in ("mounts", "hooks")}
    assert host["devices"] == TRANSFORM_HOST["devices"]
    out = ctk("cdi", "transform", "root", "--from", "/run/nvidia/driver", "--to", "/", "--relative-to", "container",
              stdin=json.dumps(TRANSFORM_IN))  # standard input by default, JSON is YAML
    assert out.returncode == 0, out.stderr
    assert _moved(yaml.safe_load(out.stdout)) == TRANSFORM_CONTAINER
    target = tmp_path / "out.json"
    out = ctk("cdi", "transform", "root", "--from", "/x", "--to", "/x", "--input", str(source), "--output", str(target))
    assert out.returncode == 0 and json.loads(target.read_text()) == TRANSFORM_IN
    out = ctk("cdi", "transform", "root", "--relative-to", "both", "--input", str(source))
    assert (out.returncode, out.stderr) == (
        1, "nvc-ctk: cdi error: invalid --relative-to value: 'both': use host or container\n")
