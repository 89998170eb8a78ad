"""nvc-docker: argv rewriting, checked through a fake docker that prints what it got."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from tests.engines.ctk import REPO


def nvc_docker(tmp_path: Path, argv: List[str], **env: str) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\necho "argv0=$0"\nfor a in "$@"; do echo "$a"; done\nexit 7\n')
    fake.chmod(0o755)
    environ: Dict[str, str] = {k: v for k, v in os.environ.items() if k not in ("NV_GPU", "NV_DOCKER")}
    environ.update(PATH=f"{tmp_path}:/usr/bin:/bin", **env)
    return subprocess.run([sys.executable, "-m", "cli.docker", *argv], capture_output=True, text=True, env=environ,
                          cwd=str(REPO))


@pytest.mark.parametrize("argv,expected", [
    (["run", "--rm", "img"], ["run", "--runtime=nvidia", "--rm", "img"]),
    (["-H", "unix:///x", "--tls", "create", "img"], ["-H", "unix:///x", "--tls", "create", "--runtime=nvidia", "img"]),
    (["--context=c", "container", "run", "img"], ["--context=c", "container", "run", "--runtime=nvidia", "img"]),
    (["run", "--runtime=runc", "img"], ["run", "--runtime=runc", "img"]),
    (["run", "--runtime", "runc", "img"], ["run", "--runtime", "runc", "img"]),
    (["ps", "-a", "run"], ["ps", "-a", "run"]),
    (["-H", "run", "ps"], ["-H", "run", "ps"]),
    (["image", "ls"], ["image", "ls"]),
    ([], []),
])
def test_rewrite(tmp_path: Path, argv: List[str], expected: List[str]) -> None:
    out = nvc_docker(tmp_path, argv)
    assert out.returncode == 7, "docker's exit status is ours (exec)"
    assert out.stdout.splitlines() == ["argv0=" + str(tmp_path / "docker"), *expected]


def test_nv_gpu(tmp_path: Path) -> None:
    out = nvc_docker(tmp_path, ["run", "img", "nvidia-smi"], NV_GPU="0 2")
    assert out.stdout.splitlines()[1:] == ["run", "--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=0,2", "img",
                                           "nvidia-smi"]


def test_version_line_then_docker(tmp_path: Path) -> None:
    out = nvc_docker(tmp_path, ["version"])
    assert out.stdout.splitlines()[0].startswith("NVIDIA Docker (nvc-docker): ")
    assert out.stdout.splitlines()[2:] == ["version"]


def test_nv_docker_names_the_client(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    other = tmp_path / "sub" / "podman-docker"
    other.write_text('#!/bin/sh\necho other "$@"\n')
    other.chmod(0o755)
    out = nvc_docker(tmp_path, ["create", "img"], NV_DOCKER=str(other))
    assert out.stdout.splitlines() == ["other create --runtime=nvidia img"]


def test_docker_missing(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "cli.docker", "ps"], capture_output=True, text=True, cwd=str(REPO),
                         env={**os.environ, "PATH": str(tmp_path / "empty")})
    assert out.returncode == 1 and out.stderr == "nvc-docker: error: docker not found on PATH\n"
