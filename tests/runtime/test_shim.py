"""The runtime shim: argv rules, config.json edits that keep every other byte, the hook added once
and only for GPU containers, pass-through with the original argv, errors where docker looks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from nvcontainer.config import Config
from nvcontainer.errors import InputError
from nvcontainer.runtime import modifiers
from nvcontainer.runtime.args import LogOptions, bundle_dir, has_create_subcommand, log_options
from nvcontainer.runtime.specfile import detect_layout, render_spec
from tests.hook.helpers import HOOK, SHIM


@pytest.mark.parametrize("argv, create", [
    (["create", "--bundle", "/b", "id"], True),
    (["--root", "/r", "--log", "/l", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/p", "id"],
     True),
    (["start", "id"], False),
    (["delete", "--force", "create"], True),  # the toolkit's caveat: a container named "create"
    (["run", "--bundle", "create", "id"], False),
    (["run", "-b", "create", "id"], False),
    (["state", "id"], False),
])
def test_has_create(argv: List[str], create: bool) -> None:
    assert has_create_subcommand(argv) is create


@pytest.mark.parametrize("argv, bundle", [
    (["create", "--bundle", "/b", "id"], "/b"),
    (["create", "--bundle=/b", "id"], "/b"),
    (["create", "-b", "/b", "id"], "/b"),
    (["create", "-b=/b", "id"], "/b"),
    (["create", "-bundle", "/b", "id"], "/b"),
    (["create", "-b", "/a", "--bundle", "/b", "id"], "/b"),
    (["create", "id"], ""),
])
def test_bundle_dir(argv: List[str], bundle: str) -> None:
    assert bundle_dir(argv) == bundle


def test_bundle_flag_without_value() -> None:
    with pytest.raises(InputError, match="bundle option requires an argument"):
        bundle_dir(["create", "--bundle"])


def test_log_options() -> None:
    assert log_options(["--root", "/r", "--log", "/l.json", "--log-format=json", "create"]) == \
        LogOptions("/l.json", "json", False)
    assert log_options(["--debug", "--log=/l", "start"]) == LogOptions("/l", "text", True)
    assert log_options(["start", "id"]) == LogOptions()


SPEC: Dict[str, Any] = {
    "ociVersion": "1.0.2-dev",
    "zzUnknownTop": {"nested": [1, 2.5, None, True, "é <&>"], "big": 12345678901234567890},
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
                "env": ["PATH=/bin", "NVIDIA_VISIBLE_DEVICES=0"], "cwd": "/", "xUnknown": "kept"},
    "root": {"path": "rootfs"},
    "hooks": {"createRuntime": [{"path": "/bin/true"}]},
    "linux": {"namespaces": [{"type": "mount"}], "aUnknown": {}},
}


def run_create(tmp_path: Path, spec: Dict[str, Any], text: Optional[str] = None,
               config: str = "") -> subprocess.CompletedProcess:
    """The shim's create with a fake low-level runtime recording its argv."""
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "config.json").write_text(text if text is not None else json.dumps(spec))
    fake = tmp_path / "fake-runc"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0" "$@" > {tmp_path}/argv\n')
    fake.chmod(0o755)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[nvidia-container-runtime]\nruntimes = ["{fake}"]\n{config}')
    env = {"NVIDIA_CTK_CONFIG_FILE_PATH": str(cfg)}
    return subprocess.run([str(SHIM), "--root", "/run/x", "create", "--bundle", str(bundle), "cid"],
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("dump", [
    lambda s: json.dumps(s, indent="\t"),
    lambda s: json.dumps(s, indent=2, ensure_ascii=False) + "\n",
    lambda s: json.dumps(s, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    .replace(">", "\\u003e").replace("&", "\\u0026") + "\n",  # Go's json.Marshal, as docker writes it
], ids=["runc-spec-tabs", "two-spaces", "go-compact"])
def test_everything_but_the_hooks_survives(tmp_path: Path, dump: Any) -> None:
    original = dump(SPEC)
    out = run_create(tmp_path, SPEC, original)
    assert out.returncode == 0, out.stderr
    written = (tmp_path / "bundle/config.json").read_text()
    expected = json.loads(original)
    hook_env = [f"NVIDIA_CTK_CONFIG_FILE_PATH={tmp_path}/config.toml"]
    expected["hooks"]["prestart"] = [{"path": str(HOOK), "args": ["nvc-container-runtime-hook", "prestart"],
                                      "env": hook_env}]
    # and the poststop hook that releases the container's GPUs in the allocation registry
    expected["hooks"]["poststop"] = [{"path": str(HOOK), "args": ["nvc-container-runtime-hook", "poststop"],
                                      "env": hook_env}]
    assert written == dump(expected)
    assert (tmp_path / "argv").read_text().split("\n")[1:-1] == [
        "--root", "/run/x", "create", "--bundle", str(tmp_path / "bundle"), "cid"]
    assert not [p for p in os.listdir(tmp_path / "bundle") if p != "config.json"], "no temporary file left"


def test_hook_added_once(tmp_path: Path) -> None:
    assert run_create(tmp_path, SPEC).returncode == 0
    once = (tmp_path / "bundle/config.json").read_text()
    assert run_create(tmp_path, json.loads(once)).returncode == 0
    assert json.loads((tmp_path / "bundle/config.json").read_text())["hooks"]["prestart"] == \
        json.loads(once)["hooks"]["prestart"]
    for name in ("nvidia-container-runtime-hook", "nvidia-container-toolkit"):
        spec = dict(SPEC, hooks={"prestart": [{"path": f"/usr/bin/{name}", "args": [name, "prestart"]}]})
        text = json.dumps(spec)
        assert run_create(tmp_path, spec, text).returncode == 0
        assert (tmp_path / "bundle/config.json").read_text() == text, name


@pytest.mark.parametrize("env", [["PATH=/bin"], ["NVIDIA_VISIBLE_DEVICES=void"], ["NVIDIA_VISIBLE_DEVICES="]])
def test_non_gpu_container_untouched(tmp_path: Path, env: List[str]) -> None:
    spec = json.loads(json.dumps(SPEC))
    spec["process"]["env"] = env
    text = json.dumps(spec, indent=3)
    out = run_create(tmp_path, spec, text)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "bundle/config.json").read_text() == text
    assert (tmp_path / "argv").exists(), "and the runtime still ran"


def test_pass_through_argv(tmp_path: Path) -> None:
    fake = tmp_path / "fake-runc"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\nexit 7\n')
    fake.chmod(0o755)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[nvidia-container-runtime]\nruntimes = ["no-such-runtime", "{fake}"]\n')
    for argv in (["start", "cid"], ["--root", "/r", "delete", "--force", "cid"], ["state", "--bundle", "x"],
                 ["features"]):
        out = subprocess.run([str(SHIM), *argv], env={"NVIDIA_CTK_CONFIG_FILE_PATH": str(cfg)},
                             capture_output=True, text=True)
        assert out.returncode == 7, "the runtime's own status"
        assert (tmp_path / "argv").read_text().splitlines() == argv


def test_no_runtime_found_goes_to_the_log(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[nvidia-container-runtime]\nruntimes = ["nope1", "nope2"]\n')
    log = tmp_path / "log.json"
    out = subprocess.run([str(SHIM), "--log", str(log), "--log-format", "json", "start", "x"],
                         env={"NVIDIA_CTK_CONFIG_FILE_PATH": str(cfg)}, capture_output=True, text=True)
    message = "no runtime binary found from candidate list: [nope1 nope2]"
    assert out.returncode == 1
    assert out.stderr == f"nvc-container-runtime: runtime error: {message}\n"
    entry = json.loads(log.read_text())
    assert (entry["level"], entry["msg"]) == ("error", message) and entry["time"]
    cfg.write_text('[nvidia-container-runtime]\nruntimes = ["nope"]\ndebug = "%s"\n' % (tmp_path / "debug.log"))
    subprocess.run([str(SHIM), "--log", str(tmp_path / "text.log"), "start", "x"],
                   env={"NVIDIA_CTK_CONFIG_FILE_PATH": str(cfg)}, capture_output=True)
    for name in ("text.log", "debug.log"):
        assert 'level=error msg="no runtime binary found' in (tmp_path / name).read_text()


def test_bad_spec_fails_create(tmp_path: Path) -> None:
    out = run_create(tmp_path, {}, "{not json")
    assert out.returncode == 1 and "runtime error: error decoding OCI specification" in out.stderr
    assert not (tmp_path / "argv").exists(), "the runtime was not called"


def test_mode_seam() -> None:
    assert modifiers.modifier_for("legacy") is modifiers.legacy
    assert modifiers.modifier_for("cdi") is modifiers.cdi
    assert modifiers.modifier_for("auto", ["nvidia.com/gpu=0", "vendor.com/class=x"]) is modifiers.cdi
    assert modifiers.modifier_for("auto", ["nvidia.com/gpu=0", "1"]) is modifiers.legacy
    assert modifiers.modifier_for("jit-cdi") is modifiers.jit_cdi
    assert modifiers.modifier_for("csv") is modifiers.csv  # which refuses GPU containers (test_cdi_mode)
    with pytest.raises(Exception, match="mode 'bogus' is not supported"):
        modifiers.modifier_for("bogus")


def test_legacy_modifier_pure() -> None:
    ctx = modifiers.ModifyContext(Config(), "/h", ())
    spec = {"process": {"env": ["NVIDIA_VISIBLE_DEVICES=all"]}}
    out = modifiers.legacy(spec, ctx)
    assert spec == {"process": {"env": ["NVIDIA_VISIBLE_DEVICES=all"]}}, "input not mutated"
    assert out["hooks"] == {
        "prestart": [{"path": "/h", "args": ["nvc-container-runtime-hook", "prestart"], "env": []}],
        "poststop": [{"path": "/h", "args": ["nvc-container-runtime-hook", "poststop"], "env": []}],
    }
    assert modifiers.legacy({"process": {"env": []}}, ctx) == {"process": {"env": []}}


def test_layout_round_trip() -> None:
    for text in ('{"a":1}', '{\n  "a": 1\n}\n', '{\n\t"a": "\\u003c"\n}'):
        assert render_spec(json.loads(text), detect_layout(text)) == text


@pytest.mark.parametrize("text", ['{"e":["X=\u00e9\\ud800"]}', '{"e":["\u00e9\\udfff\\ud800x"]}',
                                  '{"e":"\\ud83d\\ude00 \u00e9"}'])
def test_a_lone_surrogate_is_written_back_as_read(text: str) -> None:
    """A config.json with raw UTF-8 and an escaped lone surrogate (Go reads it; no UTF-8 form)."""
    out = render_spec(json.loads(text), detect_layout(text))
    out.encode("utf-8")
    assert json.loads(out) == json.loads(text)
