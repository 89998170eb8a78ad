"""The image check: NVIDIA_REQUIRE_* and legacy CUDA_VERSION against the simulated driver's CUDA 12.4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import pytest

from nvcontainer.discovery import discover
from nvcontainer.doctor.image import image_check, image_requirements, legacy_requirement, read_env_file
from nvcontainer.driver import Driver
from nvcontainer.simulate import SimulatedDriver
from tests.conftest import BuildSim
from tests.doctor.helpers import as_json, by_name, dev_root_copy, isolated

THREE_FIXES = ["newer NVIDIA driver, one that supports CUDA 12.6", "image built for CUDA 12.4 or older",
               "/usr/local/cuda/compat", "--cuda-compat-mode=ldconfig"]


@pytest.fixture(scope="module")
def a100(sim_driver: SimulatedDriver) -> Driver:
    return discover(str(sim_driver.root))


def test_cuda_12_6_image_on_the_12_4_driver_fails_with_three_fixes(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    env = tmp_path / "image.env"
    env.write_text("# an image\nPATH=/usr/bin\nNVIDIA_REQUIRE_CUDA=cuda>=12.6\nCUDA_VERSION=12.6.1\n")
    dev_root = dev_root_copy(str(sim_driver.root), tmp_path / "devroot", char_links=True)
    out = isolated(tmp_path, str(sim_driver.root), "--image-env", str(env), dev_root=dev_root)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    summary = (f"✗ image {env} needs CUDA 12.6 (NVIDIA_REQUIRE_CUDA=cuda>=12.6); "
               "driver 550.54.15 (CUDA 12.4) is too old")
    assert summary in lines
    fix = lines[lines.index(summary) + 1]
    assert fix.startswith("    fix: three ways out: (1) ")
    for part in THREE_FIXES:
        assert part in fix
    assert [line for line in lines if line.startswith("✗")] == [summary]  # nothing else fails


def test_cuda_12_0_image_passes(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    env = tmp_path / "image.env"
    env.write_text("NVIDIA_REQUIRE_CUDA=cuda>=12.0\n")
    dev_root = dev_root_copy(str(sim_driver.root), tmp_path / "devroot", char_links=True)
    out = isolated(tmp_path, str(sim_driver.root), "--image-env", str(env), dev_root=dev_root)
    assert out.returncode == 0, out.stdout
    assert (f"✓ image {env}: requirements satisfied by driver 550.54.15 (CUDA 12.4): cuda>=12.0"
            in out.stdout.splitlines())


def test_bundle_env_is_read_from_config_json(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({
        "ociVersion": "1.0.2", "process": {"env": ["PATH=/usr/bin", "CUDA_VERSION=12.6.3"]}}))
    check = by_name(as_json(isolated(tmp_path, str(sim_driver.root), "--json", "--bundle", str(bundle))),
                    "image-requirements")
    assert check["ok"] is False
    assert check["summary"] == (f"image {bundle} needs CUDA 12.6 (CUDA_VERSION=cuda>=12.6); "
                                "driver 550.54.15 (CUDA 12.4) is too old")
    for part in THREE_FIXES:
        assert part in check["fix"]


def test_newer_driver_satisfies_the_same_image(build_sim: BuildSim, tmp_path: Path) -> None:
    env = tmp_path / "image.env"
    env.write_text("NVIDIA_REQUIRE_CUDA=cuda>=12.6\n")
    sim = build_sim(preset="dgx-h100-2")
    check = by_name(as_json(isolated(tmp_path, str(sim.root), "--json", "--image-env", str(env))),
                    "image-requirements")
    assert check["ok"] is True and "CUDA 12.8" in check["summary"]


def test_lost_gpu_still_allows_the_requirement_check(build_sim: BuildSim, tmp_path: Path) -> None:
    env = tmp_path / "image.env"
    env.write_text("NVIDIA_REQUIRE_CUDA=cuda>=12.6\n")
    sim = build_sim(preset="dgx-a100-gpu-lost")
    check = by_name(as_json(isolated(tmp_path, str(sim.root), "--json", "--image-env", str(env))),
                    "image-requirements")
    assert check["ok"] is False and "(CUDA 12.4) is too old" in check["summary"]


def test_no_driver_skips_the_requirement_check(build_sim: BuildSim, tmp_path: Path) -> None:
    env = tmp_path / "image.env"
    env.write_text("NVIDIA_REQUIRE_CUDA=cuda>=12.0\n")
    sim = build_sim(preset="dgx-a100-driver-not-loaded")
    check = by_name(as_json(isolated(tmp_path, str(sim.root), "--json", "--image-env", str(env))),
                    "image-requirements")
    assert check["ok"] is None and "no working driver" in check["summary"]


@pytest.mark.parametrize("env,expected", [
    ({"CUDA_VERSION": "12.6.1"}, [("CUDA_VERSION", "cuda>=12.6")]),
    ({"CUDA_VERSION": "12"}, [("CUDA_VERSION", "cuda>=12.0")]),
    ({"CUDA_VERSION": "12.6.1", "NVIDIA_REQUIRE_CUDA": "cuda>=12.0"}, [("NVIDIA_REQUIRE_CUDA", "cuda>=12.0")]),
    ({"NVIDIA_REQUIRE_JETPACK": "csv-mounts=all", "NVIDIA_REQUIRE_ARCH": "arch>=8.0"},
     [("NVIDIA_REQUIRE_ARCH", "arch>=8.0")]),
    ({"NVIDIA_DISABLE_REQUIRE": "true", "NVIDIA_REQUIRE_CUDA": "cuda>=99"}, []),
    ({"NVIDIA_DISABLE_REQUIRE": "0", "NVIDIA_REQUIRE_CUDA": "cuda>=99"}, [("NVIDIA_REQUIRE_CUDA", "cuda>=99")]),
])
def test_requirements_from_the_environment(env: Dict[str, str], expected: list) -> None:
    assert image_requirements(env) == (expected, None)


def test_bad_environment_values() -> None:
    assert legacy_requirement("twelve") is None
    assert image_requirements({"CUDA_VERSION": "twelve"})[1] == "CUDA_VERSION=twelve is not a version"
    assert image_requirements({"NVIDIA_DISABLE_REQUIRE": "maybe"})[1] == "NVIDIA_DISABLE_REQUIRE=maybe is not a boolean"


def test_env_file_format(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("# comment\n\nexport A=1\nB=x=y\nnot-an-assignment\nA=2\n")
    assert read_env_file(str(path)) == {"A": "2", "B": "x=y"}


def test_the_dsl_is_configures(a100: Driver) -> None:
    # OR over clauses, AND within one, case-insensitive names: the same evaluator as configure --require.
    ok = image_check({"NVIDIA_REQUIRE_CUDA": "cuda>=13.0 CUDA>=12.0,brand=NVIDIA"}, a100, "img")
    assert ok.ok is True
    brand = image_check({"NVIDIA_REQUIRE_BRAND": "brand=geforce"}, a100, "img")
    assert brand.ok is False and brand.summary == ("image img: unsatisfied on driver 550.54.15 (CUDA 12.4): "
                                                   "NVIDIA_REQUIRE_BRAND=brand=geforce")
    assert "NVIDIA_DISABLE_REQUIRE=true" in brand.fix
    invalid = image_check({"NVIDIA_REQUIRE_CUDA": "cuda>>12"}, a100, "img")
    assert invalid.ok is False and "not a valid requirement: NVIDIA_REQUIRE_CUDA=cuda>>12" in invalid.summary
    disabled = image_check({"NVIDIA_DISABLE_REQUIRE": "1", "NVIDIA_REQUIRE_CUDA": "cuda>=99"}, a100, "img")
    assert disabled.ok is None
    assert image_check({"PATH": "/bin"}, a100, "img").ok is None
    driver_term = image_check({"NVIDIA_REQUIRE_DRIVER": "driver>=560"}, a100, "img")
    assert driver_term.ok is False and "three ways" not in driver_term.fix
