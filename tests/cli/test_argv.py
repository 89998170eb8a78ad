"""The nvc-cli command line as NVIDIA's argp reads it (issue 19, points 1, 2, 3 and 9): short
options belong to the command they follow, every short option of nvidia-container-cli works at
its level, bad debug files and bad combinations are one line, help shows no invented values."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from cli.argv import long_usage, split
from tests.containers import NVC, make_rootfs


def nvc(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run([*NVC, *args], capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


@pytest.mark.parametrize("argv,normalised,command", [
    (["-u", "configure", "-u", "/r"], ["--user=", "configure", "-u", "/r"], 1),
    (["--user", "configure", "--utility", "/r"], ["--user=", "configure", "--utility", "/r"], 1),
    (["-ku", "info"], ["-k", "--user=", "info"], 2),
    (["-u1000:1000", "info"], ["--user=1000:1000", "info"], 1),
    (["--user=1000", "info", "-u"], ["--user=1000", "info", "-u"], 1),
    (["-r", "/x", "-d", "f", "list", "-d", "0"], ["-r", "/x", "-d", "f", "list", "-d", "0"], 4),
    (["-r/x", "-kn", "-lcache", "list"], ["-r/x", "-k", "-n", "-lcache", "list"], 4),
    (["-knr", "/x", "info"], ["-k", "-n", "-r", "/x", "info"], 4),
    (["--root", "-u", "info"], ["--root", "-u", "info"], 2),  # -u is --root's value here
    (["--root=/x", "--ldcache", "/c", "configure", "-l", "/l"], ["--root=/x", "--ldcache", "/c", "configure",
                                                                 "-l", "/l"], 3),
    ([], [], 0),
    (["--root"], ["--root"], 1),
])
def test_split(argv: List[str], normalised: List[str], command: int) -> None:
    assert split(argv) == (normalised, command)


def test_long_usage_is_argps_layout() -> None:
    text = long_usage("nvc-cli", [(["--load-kmods", "-k"], None), (["--root", "-r"], "PATH"),
                                  (["--user", "-u"], "[UID[:GID]]")], "COMMAND [ARG...]")
    assert text == ("Usage: nvc-cli [-k] [-r PATH] [-u[UID[:GID]]] [--load-kmods] [--root=PATH]\n"
                    "            [--user[=UID[:GID]]] COMMAND [ARG...]")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_rootfs(tmp_path_factory.mktemp("argv") / "rootfs"))


def plan(root: str, rootfs: str, *args: str, globals_: List[str] = ()) -> Dict:  # type: ignore[assignment]
    out = nvc(*globals_, "--root", root, "configure", "--dry-run", *args, rootfs)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def mounted(the_plan: Dict) -> List[str]:
    return [m["target"] for m in the_plan["mounts"]]


@pytest.mark.parametrize("short,long_", [("-c", "--compute"), ("-u", "--utility"), ("-v", "--video"),
                                         ("-g", "--graphics"), ("-D", "--display"), ("-n", "--ngx")])
def test_configure_capability_short_options(sim_driver, rootfs, short: str, long_: str) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    with_short = plan(root, rootfs, "--device=1", short)
    assert with_short == plan(root, rootfs, "--device=1", long_)
    assert with_short != plan(root, rootfs, "--device=1")


def test_configure_value_short_options(sim_driver, rootfs) -> None:  # type: ignore[no-untyped-def]
    root, topo = str(sim_driver.root), sim_driver.topology
    assert f"/dev/nvidia{topo.gpus[2].minor}" in mounted(plan(root, rootfs, "-d", "2", "-u"))
    assert plan(root, rootfs, "-d2", "-u") == plan(root, rootfs, "--device=2", "--utility")
    out = nvc("--root", root, "configure", "--dry-run", "-r", "cuda>=99.0", "-u", rootfs)
    assert out.returncode == 1 and out.stderr.startswith("nvc-cli: requirement error: unsatisfied condition: cuda>=99")
    out = nvc("--root", root, "configure", "-p", "x1", "-u", rootfs)
    assert out.stderr.splitlines() == ["nvc-cli: input error: parse pid failed: invalid argument"]
    # -l after configure is --ldconfig (not used by a dry run), before it --ldcache
    assert nvc("--root", root, "configure", "--dry-run", "-l", "/nonexistent", "-u", rootfs).returncode == 0
    out = nvc("--root", root, "-l", "/nonexistent", "configure", "--dry-run", "-u", rootfs)
    assert out.stderr.startswith("nvc-cli: detection error: open failed: ")


def test_the_same_letter_at_both_levels(sim_driver, rootfs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    utility = plan(root, rootfs, "--utility")
    # -u: --user before the command, --utility after it (the original bug: "No such option: --user")
    assert plan(root, rootfs, "-u", globals_=["-u"]) == utility
    assert plan(root, rootfs, "-u", globals_=["-u1000:1000"]) == utility
    # -n: --no-pivot before, --ngx after
    assert plan(root, rootfs, "-u", globals_=["-n"]) == utility
    assert plan(root, rootfs, "-u", "-n", globals_=["-n"]) == plan(root, rootfs, "--utility", "--ngx")
    # -d: --debug before, --device after
    log = tmp_path / "debug.log"
    the_plan = plan(root, rootfs, "-d", "1", "-u", globals_=["-d", str(log)])
    assert f"/dev/nvidia{sim_driver.topology.gpus[1].minor}" in mounted(the_plan)
    assert "-- WARNING, the following logs are for debugging purposes only --" in log.read_text()
    # -r: --root before, --require after
    out = nvc("-r", root, "configure", "--dry-run", "-r", "driver>=999", "-u", rootfs)
    assert out.stderr.splitlines() == ["nvc-cli: requirement error: unsatisfied condition: driver>=999"]
    # -k: accepted, as --load-kmods
    assert plan(root, rootfs, "-u", globals_=["-k"]) == utility


@pytest.mark.parametrize("short,long_", [("-l", "--libraries"), ("-b", "--binaries"), ("-i", "--ipcs"),
                                         ("-f", "--firmwares")])
def test_list_short_options(sim_driver, short: str, long_: str) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    out = nvc("--root", root, "list", short)
    assert out.returncode == 0 and out.stdout and out.stdout == nvc("--root", root, "list", long_).stdout


def test_list_device_short_option(sim_driver) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    out = nvc("--root", root, "list", "-d", "1")
    assert out.returncode == 0 and out.stdout == nvc("--root", root, "list", "--device=1").stdout
    assert out.stdout.splitlines()[-1] == f"/dev/nvidia{sim_driver.topology.gpus[1].minor}"


@pytest.mark.parametrize("command", [[], ["info"], ["list"], ["configure"], ["ps"]])
def test_argp_builtins_at_every_level(command: List[str]) -> None:
    version = nvc(*command, "-V")
    assert version.returncode == 0 and version.stdout.startswith("cli-version: ")
    assert nvc(*command, "--version").stdout == version.stdout
    help_ = nvc(*command, "-?")
    assert help_.returncode == 0 and help_.stdout == nvc(*command, "--help").stdout and "Usage:" in help_.stdout
    usage = nvc(*command, "--usage")
    assert usage.returncode == 0 and usage.stdout.startswith(" ".join(["Usage: nvc-cli", *command]) + " [")
    assert "--version" in usage.stdout and "--usage" in usage.stdout


def test_usage_errors_are_argps_lines() -> None:
    cases = {
        ("configure",): ["Usage: nvc-cli configure [OPTION...] ROOTFS",
                         "Try `nvc-cli configure --help' or `nvc-cli configure --usage' for more information."],
        ("frobnicate",): ["Usage: nvc-cli [OPTION...] COMMAND [ARG...]",
                          "Try `nvc-cli --help' or `nvc-cli --usage' for more information."],
        ("configure", "--pid"): ["nvc-cli configure: option '--pid' requires an argument",
                                 "Try `nvc-cli configure --help' or `nvc-cli configure --usage' for more information."],
        ("configure", "-p"): ["nvc-cli configure: option requires an argument -- 'p'",
                              "Try `nvc-cli configure --help' or `nvc-cli configure --usage' for more information."],
        ("--root",): ["nvc-cli: option '--root' requires an argument",
                      "Try `nvc-cli --help' or `nvc-cli --usage' for more information."],
        ("info", "--csv=1"): ["nvc-cli info: option '--csv' doesn't allow an argument",
                              "Try `nvc-cli info --help' or `nvc-cli info --usage' for more information."],
        ("-Z", "info"): ["nvc-cli: invalid option -- 'Z'",
                         "Try `nvc-cli --help' or `nvc-cli --usage' for more information."],
    }
    for args, lines in cases.items():
        out = nvc(*args)
        assert (out.returncode, out.stdout, out.stderr.splitlines()) == (1, "", lines), args


@pytest.mark.parametrize("case", ["missing-directory", "directory", "tty-without-terminal", "fifo-without-reader"])
def test_bad_debug_file_is_one_line(sim_driver, tmp_path, case: str) -> None:  # type: ignore[no-untyped-def]
    path = {"missing-directory": str(tmp_path / "no/such/dir/debug.log"), "directory": str(tmp_path),
            "tty-without-terminal": "/dev/tty", "fifo-without-reader": str(tmp_path / "fifo")}[case]
    reason = {"missing-directory": "no such file or directory", "directory": "is a directory",
              "tty-without-terminal": "no such device or address", "fifo-without-reader": "no such device or address"}
    if case == "fifo-without-reader":
        os.mkfifo(path)
    for how in (["--debug", path], ["-d", path], [f"--debug={path}"]):
        # a new session: no controlling terminal, whatever runs the tests
        out = nvc(*how, "--root", str(sim_driver.root), "info", start_new_session=True, timeout=30)
        assert (out.returncode, out.stdout) == (1, "")
        assert out.stderr.splitlines() == [f"nvc-cli: input error: debug log {path}: {reason[case]}"]
    env = {**os.environ, "NVC_DEBUG_FILE": path}
    out = nvc("--root", str(sim_driver.root), "info", env=env, start_new_session=True, timeout=30)
    assert out.stderr.splitlines() == [f"nvc-cli: input error: debug log {path}: {reason[case]}"]
    assert not (tmp_path / "no").exists()


def test_info_refuses_csv_with_json(sim_driver) -> None:  # type: ignore[no-untyped-def]
    for args in (["--csv", "--json"], ["--json", "--csv"]):
        out = nvc("--root", str(sim_driver.root), "info", *args)
        assert (out.returncode, out.stdout) == (1, "")
        assert out.stderr.splitlines() == ["nvc-cli: input error: --csv and --json cannot be used together"]


@pytest.mark.parametrize("command", [[], ["info"], ["list"], ["configure"], ["ps"], ["doctor"]])
def test_help_shows_no_value_for_flags(command: List[str]) -> None:
    out = nvc(*command, "--help", env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0
    assert "<bool>" not in out.stdout
    row = [line for line in out.stdout.splitlines() if "--help" in line][0]
    assert row.split("│")[1].split() == ["--help", "-h,-?", "Show", "this", "message", "and", "exit."]


def test_list_json_help_describes_its_output(sim_driver) -> None:  # type: ignore[no-untyped-def]
    out = nvc("list", "--help", env={**os.environ, "COLUMNS": "200"})
    row = " ".join(line for line in out.stdout.splitlines() if "--json" in line)
    assert "paths" in row and "grouped by kind" not in row
    listed = json.loads(nvc("--root", str(sim_driver.root), "list", "--json").stdout)
    assert list(listed) == ["paths"]
    assert listed["paths"] == nvc("--root", str(sim_driver.root), "list").stdout.splitlines()


def test_reference_doc_has_no_bool_values() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "cli-reference.md"
    assert "<bool>" not in doc.read_text()
