"""discover() against simulated drivers: what it reports must be what the topology implies."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pynvml
import pytest

from nvcontainer.bindings import nvml as nv
from nvcontainer.discovery import DriverOptions, discover, load_driver_nvml
from nvcontainer.discovery.ldcache import read_ldcache

from .expect import BRANDS, bus_location, cuda_string


def _sim_migs(gpu):  # type: ignore[no-untyped-def]
    return [(m.uuid, m.gi, m.ci) for m in gpu.migs]


@pytest.mark.parametrize("fixture", ["sim_driver", "sim_driver_rhel"])
def test_gpus_match_topology(fixture: str, request: pytest.FixtureRequest) -> None:
    sim = request.getfixturevalue(fixture)
    topo = sim.topology
    driver = discover(str(sim.root))
    assert driver.nvrm_version == topo.driver_version
    assert driver.cuda_version == cuda_string(topo.cuda_version)
    assert driver.cuda_version_int == topo.cuda_version
    assert [g.uuid for g in driver.gpus] == [g.uuid for g in topo.gpus]
    for got, want in zip(driver.gpus, topo.gpus):
        assert got.minor == want.minor
        assert got.model == want.name
        assert got.brand == BRANDS[want.brand]
        assert got.bus_id == bus_location(want.bus_id)
        assert got.architecture == f"{want.cc_major}.{want.cc_minor}"
        assert got.memory_total == want.memory_total
        assert got.node.path == f"/dev/nvidia{want.minor}"
        assert got.node.host_path == os.path.join(str(sim.root), f"dev/nvidia{want.minor}")
        assert got.mig_enabled == want.mig_enabled
        assert [(m.uuid, m.gpu_instance_id, m.compute_instance_id) for m in got.migs] == _sim_migs(want)
        assert got.proc_dir is not None and os.path.isdir(os.path.join(str(sim.root), got.proc_dir.lstrip("/")))


def test_mig_caps_nodes_agree_with_mig_minors(sim_driver) -> None:  # type: ignore[no-untyped-def]
    driver = discover(str(sim_driver.root))
    minors = {}
    with open(os.path.join(str(sim_driver.root), "proc/driver/nvidia-caps/mig-minors")) as f:
        for line in f:
            key, value = line.split()
            minors[key] = int(value)
    migs = driver.migs
    assert migs, "the default preset has MIG devices"
    for mig in migs:
        gpu = driver.gpus[mig.parent_index]
        gi_key = f"gpu{gpu.minor}/gi{mig.gpu_instance_id}/access"
        ci_key = f"gpu{gpu.minor}/gi{mig.gpu_instance_id}/ci{mig.compute_instance_id}/access"
        assert mig.gi_caps_node is not None and mig.gi_caps_node.minor == minors[gi_key]
        assert mig.ci_caps_node is not None and mig.ci_caps_node.minor == minors[ci_key]
        st = os.stat(mig.ci_caps_node.host_path)
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (driver.caps_major, minors[ci_key])


def test_libraries_are_the_drivers_own(sim_driver) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    version = sim_driver.topology.driver_version
    driver = discover(root)
    names = {os.path.basename(lib.path) for lib in driver.libraries}
    assert f"libnvidia-ml.so.{version}" in names and f"libcuda.so.{version}" in names
    for lib in driver.libraries + driver.libraries32:
        assert lib.path.endswith("." + version), lib.path
        assert lib.host_path == os.path.join(root, lib.path.lstrip("/"))
        assert os.path.isfile(lib.host_path) and not os.path.islink(lib.host_path)
    # Every driver-version ELF file of the lib dir that the ld cache knows is found, nothing else:
    cache = read_ldcache(os.path.join(root, "etc/ld.so.cache"))
    cached = {os.path.realpath(os.path.join(root, e.value.lstrip("/"))) for e in cache.entries}
    expected64 = {p for p in cached if p.endswith("." + version) and "/i386-linux-gnu/" not in p
                  and not os.path.basename(p).startswith(("libGL.", "libEGL.", "libGLESv1_CM.", "libGLESv2."))}
    assert {lib.host_path for lib in driver.libraries} == expected64
    assert driver.libraries32, "32-bit libraries are built where gcc -m32 works"
    assert all("/i386-linux-gnu/" in lib.path for lib in driver.libraries32)


def test_no_glvnd_picks_the_nvidia_compat_gl(sim_driver) -> None:  # type: ignore[no-untyped-def]
    driver = discover(str(sim_driver.root), options=DriverOptions(no_glvnd=True))
    names = [os.path.basename(lib.path) for lib in driver.libraries]
    assert any(n.startswith("libGL.so.") for n in names)
    assert not any(n.startswith("libGLX_nvidia.so.") for n in names)


def test_binaries_ipcs_firmware(sim_driver) -> None:  # type: ignore[no-untyped-def]
    driver = discover(str(sim_driver.root), options=DriverOptions(path_env="/usr/bin"))
    assert [os.path.basename(b.path) for b in driver.binaries] == [
        "nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control", "nvidia-cuda-mps-server"]
    kinds = {i.kind: i for i in driver.ipcs}
    assert "persistenced" in kinds and not kinds["persistenced"].is_dir
    assert kinds["mps"].is_dir
    fw = sorted(os.listdir(os.path.join(str(sim_driver.root), f"lib/firmware/nvidia/{driver.nvrm_version}")))
    assert [os.path.basename(f.path) for f in driver.firmwares] == [n for n in fw if n.startswith("gsp")]
    without = discover(str(sim_driver.root), options=DriverOptions(
        path_env="/usr/bin", no_persistenced=True, no_gsp_firmware=True))
    assert "persistenced" not in {i.kind for i in without.ipcs}
    # as NVIDIA's: no-persistenced drops the socket, not the program
    assert "nvidia-persistenced" in {os.path.basename(b.path) for b in without.binaries}
    assert without.firmwares == ()


def test_nvml_is_loaded_from_the_driver_root(sim_driver) -> None:  # type: ignore[no-untyped-def]
    lib = load_driver_nvml(str(sim_driver.root))
    assert lib.path.startswith(str(sim_driver.root) + "/")
    assert os.path.basename(lib.path) == f"libnvidia-ml.so.{sim_driver.topology.driver_version}"


def test_a_root_without_driver_fails_to_load_nvml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "etc").mkdir()
    with pytest.raises(Exception) as info:
        discover(str(tmp_path))
    assert info.value.line() == ("nvc-cli: initialization error: load library failed: libnvidia-ml.so.1: "
                                 "cannot open shared object file: no such file or directory")


@pytest.mark.parametrize("ctype,fields", [
    ("nvmlPciInfo_t", pynvml.nvmlPciInfo_t),
    ("nvmlMemory_t", pynvml.c_nvmlMemory_t),
    ("nvmlMemory_v2_t", pynvml.c_nvmlMemory_v2_t),
    ("nvmlUtilization_t", pynvml.c_nvmlUtilization_t),
    ("nvmlDeviceAttributes_t", pynvml.c_nvmlDeviceAttributes),
])
def test_cffi_layouts_equal_nvidia_ml_py(ctype: str, fields) -> None:  # type: ignore[no-untyped-def]
    ffi = nv.ffi()
    assert ffi.sizeof(ctype) == ctypes.sizeof(fields)
    for name, _ in fields._fields_:
        assert ffi.offsetof(ctype, name) == getattr(fields, name).offset, name


def test_nvml_errors_carry_code_and_text(build_sim) -> None:  # type: ignore[no-untyped-def]
    sim = build_sim(preset="dgx-a100-gpu-lost")
    # A fresh process per root: a library is initialised once per process.
    code = (
        "import sys; from nvcontainer.discovery import discover\n"
        "from nvcontainer.errors import NvmlError\n"
        "try:\n    discover(sys.argv[1])\nexcept NvmlError as e:\n    print(e.code, e.stage, e.message)\n"
    )
    out = subprocess.run(["python3", "-c", code, str(sim.root)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "15 detection nvml error: gpu is lost"


def test_missing_optional_nodes_are_skipped_with_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A headless host has no nvidia-modeset (seen on a real H200 machine): discovery leaves the
    node out with a warning, and a container asking for every capability still gets a plan."""
    from nvcontainer import Request, make_plan
    from nvcontainer.simulate import build

    sim = build(tmp_path / "root")
    os.unlink(sim.root / "dev/nvidia-modeset")
    os.unlink(sim.root / "dev/nvidia-uvm-tools")
    driver = discover(str(sim.root))
    paths = [n.path for n in driver.control_nodes]
    assert paths == ["/dev/nvidiactl", "/dev/nvidia-uvm"]
    assert "missing device /dev/nvidia-modeset" in driver.warnings
    assert "missing device /dev/nvidia-uvm-tools" in driver.warnings
    (tmp_path / "rootfs").mkdir()
    plan = make_plan(driver, Request(rootfs=str(tmp_path / "rootfs"), devices="0",
                                     capabilities=("compute", "utility", "display", "graphics")))
    assert "/dev/nvidia-modeset" not in [n.path for n in plan.devices]
    assert "/dev/nvidia-uvm" in [n.path for n in plan.devices]
    # `nvc-cli list` still prints nvidia-modeset, as the original does even when it is absent.
    listed = subprocess.run([sys.executable, "-m", "cli.main", "--root", str(sim.root), "list", "--device=0"],
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[:4] == ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-modeset",
                                              "/dev/nvidia0"]


def test_driver_programs_under_the_driver_prefix(build_sim) -> None:  # type: ignore[no-untyped-def]
    """With the default PATH, the /usr/bin wrapper scripts are skipped (not ELF) and the programs
    are found in the bin directory beside the driver's libraries."""
    sim = build_sim(layout="prefix")
    driver = discover(str(sim.root), options=DriverOptions(path_env=""))
    assert [b.path for b in driver.binaries][:1] == ["/usr/local/nvidia/bin/nvidia-smi"]
    default = discover(str(sim.root), options=DriverOptions(path_env=None))
    assert {b.path for b in default.binaries} == {f"/usr/local/nvidia/bin/{os.path.basename(b.path)}"
                                                  for b in driver.binaries}
    assert "skipping /usr/bin/nvidia-smi: not an ELF executable" in default.warnings
