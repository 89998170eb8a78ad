"""The built driver root: ld cache, ELF files, device nodes, proc files, firmware, IPC, etc."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from nvcontainer.simulate import SimulatedDriver
from nvcontainer.simulate.catalog import BY_NAME, LIBRARIES
from nvcontainer.simulate.devices import CAPS_MAJOR, IMEX_MAJOR, NV_MAJOR, UVM_MAJOR, device_nodes
from nvcontainer.simulate.layout import DECOY_DIR, DECOY_VERSION, LAYOUTS
from nvcontainer.simulate.migminors import ci_access_minor, gi_access_minor
from nvcontainer.simulate.rootfiles import FIRMWARE_FILES


def ld_cache(driver: SimulatedDriver) -> List[Tuple[str, str, str]]:
    """(soname, flags, path) of every entry of the root's ld.so.cache, in cache order."""
    out = subprocess.run(["ldconfig", "-p", "-C", str(driver.path("/etc/ld.so.cache"))], capture_output=True,
                         text=True, check=True).stdout
    entries = []
    for line in out.splitlines():
        match = re.match(r"^\s+(\S+) \(([^)]*)\) => (\S+)$", line)
        if match:
            entries.append((match.group(1), match.group(2), match.group(3)))
    return entries


def elf_info(path: Path) -> Dict[str, object]:
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        dynamic = elf.get_section_by_name(".dynamic")
        assert isinstance(dynamic, DynamicSection)
        tags = list(dynamic.iter_tags())
        note = elf.get_section_by_name(".note.ABI-tag")
        notes = list(note.iter_notes()) if note is not None else []
        return {
            "class": elf.elfclass,
            "machine": elf["e_machine"],
            "soname": next((t.soname for t in tags if t.entry.d_tag == "DT_SONAME"), None),
            "needed": [t.needed for t in tags if t.entry.d_tag == "DT_NEEDED"],
            "rpath": [t.entry.d_tag for t in tags if t.entry.d_tag in ("DT_RPATH", "DT_RUNPATH")],
            "abi_notes": [(n["n_name"], n["n_type"], n["n_desc"]) for n in notes],
        }


@pytest.mark.parametrize("layout", ["debian", "rhel"])
def test_ld_cache_lists_the_driver(build_sim, layout: str) -> None:
    driver = build_sim(layout=layout)
    lay = LAYOUTS[layout]
    version = driver.topology.driver_version
    entries = ld_cache(driver)
    assert driver.has_32bit, "gcc -m32 works on this machine"
    for spec in LIBRARIES:
        soname = spec.soname_for(version)
        assert (soname, "libc6,x86-64", f"{lay.lib_dir}/{soname}") in entries, soname
        expected32 = (soname, "libc6", f"{lay.lib32_dir}/{soname}")
        assert (expected32 in entries) == spec.lib32, soname
    ml = [e for e in entries if e[0] == "libnvidia-ml.so.1" and e[1] == "libc6,x86-64"]
    assert [e[2] for e in ml] == [f"{lay.lib_dir}/libnvidia-ml.so.1", f"{DECOY_DIR}/libnvidia-ml.so.1"]
    assert os.readlink(driver.path(f"{DECOY_DIR}/libnvidia-ml.so.1")) == f"libnvidia-ml.so.{DECOY_VERSION}"
    for gone in ("libnvidia-fatbinaryloader", "libnvidia-compiler", "libnvidia-ifr"):
        assert not any(e[0].startswith(gone) for e in entries)


def test_library_files_and_links(sim_driver: SimulatedDriver) -> None:
    version = sim_driver.topology.driver_version
    for spec in LIBRARIES:
        soname = spec.soname_for(version)
        for directory, bits in [(sim_driver.lib_dir, 64), (sim_driver.lib32_dir, 32)]:
            assert directory is not None
            path = directory / spec.file_name(version)
            if bits == 32 and not spec.lib32:
                assert not path.exists()
                continue
            info = elf_info(path)
            assert info["class"] == bits and info["soname"] == soname
            assert info["machine"] == ("EM_X86_64" if bits == 64 else "EM_386")
            expected = [BY_NAME[dep].soname_for(version) for dep in spec.needed] + ["libc.so.6"]
            assert info["needed"] == expected, path.name
            if soname != path.name:
                assert os.readlink(directory / soname) == path.name
    assert os.readlink(sim_driver.lib_dir / "libcuda.so") == "libcuda.so.1"


def test_glx_and_egl_needed_links(sim_driver: SimulatedDriver) -> None:
    version = sim_driver.topology.driver_version
    glx = elf_info(sim_driver.lib_dir / f"libGLX_nvidia.so.{version}")["needed"]
    assert glx == [f"libnvidia-glcore.so.{version}", f"libnvidia-tls.so.{version}", "libc.so.6"]
    encode = elf_info(sim_driver.lib_dir / f"libnvidia-encode.so.{version}")["needed"]
    assert encode == ["libnvcuvid.so.1", "libc.so.6"]
    gl = elf_info(sim_driver.lib_dir / f"libGL.so.{version}")["needed"]
    assert any(str(n).startswith("libnvidia-glcore.so") for n in gl)  # type: ignore[union-attr]


def test_tls_abi_note(sim_driver: SimulatedDriver) -> None:
    version = sim_driver.topology.driver_version
    assert sim_driver.lib32_dir is not None
    for directory in (sim_driver.lib_dir, sim_driver.lib32_dir):
        notes = elf_info(directory / f"libnvidia-tls.so.{version}")["abi_notes"]
        assert notes == [("GNU", "NT_GNU_ABI_TAG", {"abi_os": "ELF_NOTE_OS_LINUX", "abi_major": 2,
                                                     "abi_minor": 3, "abi_tiny": 99})]
    assert elf_info(sim_driver.lib_dir / f"libnvidia-glcore.so.{version}")["abi_notes"] == []


def test_nvml_exports_only_nvml(sim_driver: SimulatedDriver) -> None:
    with open(sim_driver.nvml_library, "rb") as handle:
        symbols = ELFFile(handle).get_section_by_name(".dynsym")
        exported = {s.name for s in symbols.iter_symbols()  # type: ignore[union-attr]
                    if s["st_shndx"] != "SHN_UNDEF" and s.name}
    assert exported and all(name.startswith("nvml") for name in exported)
    for required in ("nvmlInit_v2", "nvmlInit", "nvmlDeviceGetPciInfo", "nvmlDeviceGetPciInfo_v3",
                     "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetAttributes_v2"):
        assert required in exported


def test_binaries(sim_driver: SimulatedDriver) -> None:
    smi = elf_info(sim_driver.bin_dir / "nvidia-smi")
    assert smi["needed"] == ["libnvidia-ml.so.1", "libc.so.6"] and smi["rpath"] == []
    for tool in ("nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control", "nvidia-cuda-mps-server"):
        result = subprocess.run([str(sim_driver.bin_dir / tool)], capture_output=True, text=True, check=True)
        assert tool in result.stdout and sim_driver.topology.driver_version in result.stdout
    assert not (sim_driver.bin_dir / "nv-fabricmanager").exists()
    assert not sim_driver.path("/var/run/nvidia-fabricmanager/socket").exists()


def test_device_nodes(sim_driver: SimulatedDriver) -> None:
    expected = {
        "/dev/nvidiactl": (NV_MAJOR, 255, 0o666), "/dev/nvidia-modeset": (NV_MAJOR, 254, 0o666),
        "/dev/nvidia-uvm": (UVM_MAJOR, 0, 0o666), "/dev/nvidia-uvm-tools": (UVM_MAJOR, 1, 0o666),
        "/dev/nvidia-caps/nvidia-cap1": (CAPS_MAJOR, 1, 0o400), "/dev/nvidia-caps/nvidia-cap2": (CAPS_MAJOR, 2, 0o444),
        "/dev/nvidia-caps-imex-channels/channel0": (IMEX_MAJOR, 0, 0o666),
    }
    for gpu in sim_driver.topology.gpus:
        expected[f"/dev/nvidia{gpu.minor}"] = (NV_MAJOR, gpu.minor, 0o666)
        for mig in gpu.migs:
            for minor in (gi_access_minor(gpu.minor, mig.gi), ci_access_minor(gpu.minor, mig.gi, mig.ci)):
                expected[f"/dev/nvidia-caps/nvidia-cap{minor}"] = (CAPS_MAJOR, minor, 0o444)
    assert {n.path for n in device_nodes(sim_driver.topology)} == set(expected)
    found = set()
    for top in ("dev",):
        for dirpath, _dirs, files in os.walk(sim_driver.root / top):
            found |= {"/" + str((Path(dirpath) / f).relative_to(sim_driver.root)) for f in files}
    assert found == set(expected)
    for rel, (major, minor, mode) in expected.items():
        st = os.lstat(sim_driver.path(rel))
        assert stat.S_ISCHR(st.st_mode), rel
        assert (os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)) == (major, minor, mode), rel


def test_proc_devices_majors(sim_driver: SimulatedDriver) -> None:
    text = sim_driver.path("/proc/devices").read_text()
    chars, blocks = text.split("Block devices:")
    assert chars.startswith("Character devices:\n")
    majors = {line.split()[1]: int(line.split()[0]) for line in chars.splitlines()[1:] if line.strip()}
    assert majors["nvidia-frontend"] == NV_MAJOR and majors["nvidia-uvm"] == UVM_MAJOR
    assert majors["nvidia-caps"] == CAPS_MAJOR and majors["nvidia-caps-imex-channels"] == IMEX_MAJOR
    assert "sd" in blocks


def test_proc_driver_files(sim_driver: SimulatedDriver) -> None:
    topo = sim_driver.topology
    version = sim_driver.path("/proc/driver/nvidia/version").read_text()
    assert re.match(rf"^NVRM version: NVIDIA UNIX x86_64 Kernel Module  {re.escape(topo.driver_version)}  \S",
                    version)
    assert "\nGCC version:  gcc version" in version
    params = sim_driver.path("/proc/driver/nvidia/params").read_text().splitlines()
    for line in ("ModifyDeviceFiles: 1", "DeviceFileUID: 0", "DeviceFileGID: 0", "DeviceFileMode: 438"):
        assert line in params
    assert sim_driver.path("/proc/driver/nvidia/registry").is_file()
    assert not sim_driver.path("/proc/driver/nvidia/simulated").exists()
    gpu_dirs = sorted(p.name for p in sim_driver.path("/proc/driver/nvidia/gpus").iterdir())
    assert gpu_dirs == [g.proc_bus_id for g in topo.gpus]
    for gpu in topo.gpus:
        info = sim_driver.path(f"/proc/driver/nvidia/gpus/{gpu.proc_bus_id}/information").read_text()
        assert f"Model: \t\t {gpu.name}\n" in info and f"GPU UUID: \t {gpu.uuid}\n" in info
        assert f"Bus Location: \t {gpu.proc_bus_id}\n" in info and f"Device Minor: \t {gpu.minor}\n" in info
        assert info.endswith("GPU Excluded:\t No\n")


def test_mig_capability_files_match_mig_minors(sim_driver: SimulatedDriver) -> None:
    minors = dict(line.rsplit(" ", 1) for line in
                  sim_driver.path("/proc/driver/nvidia-caps/mig-minors").read_text().splitlines())
    caps = sim_driver.path("/proc/driver/nvidia/capabilities")

    def fields(path: Path) -> Dict[str, str]:
        return dict(line.split(": ", 1) for line in path.read_text().splitlines())

    assert fields(caps / "mig/config") == {"DeviceFileMinor": minors["config"], "DeviceFileMode": "256",
                                           "DeviceFileModify": "1"}
    assert fields(caps / "mig/monitor")["DeviceFileMinor"] == minors["monitor"]
    checked = 0
    for gpu in sim_driver.topology.gpus:
        for mig in gpu.migs:
            for rel in (f"gpu{gpu.minor}/gi{mig.gi}/access", f"gpu{gpu.minor}/gi{mig.gi}/ci{mig.ci}/access"):
                path = caps / rel.replace(f"gpu{gpu.minor}/", f"gpu{gpu.minor}/mig/")
                data = fields(path)
                assert data == {"DeviceFileMinor": minors[rel], "DeviceFileMode": "292", "DeviceFileModify": "1"}
                node = os.stat(sim_driver.path(f"/dev/nvidia-caps/nvidia-cap{data['DeviceFileMinor']}"))
                assert os.minor(node.st_rdev) == int(minors[rel])
                checked += 1
    assert checked == 2 * sum(len(g.migs) for g in sim_driver.topology.gpus) > 0


def test_firmware_ipc_and_etc(sim_driver: SimulatedDriver, sim_driver_rhel: SimulatedDriver) -> None:
    version = sim_driver.topology.driver_version
    blobs = [sim_driver.path(f"/lib/firmware/nvidia/{version}/{name}").read_bytes() for name in FIRMWARE_FILES]
    assert all(len(b) >= 1024 for b in blobs) and blobs[0] != blobs[1]
    assert blobs == [sim_driver_rhel.path(f"/lib/firmware/nvidia/{version}/{n}").read_bytes()
                     for n in FIRMWARE_FILES]
    assert stat.S_ISSOCK(os.lstat(sim_driver.path("/var/run/nvidia-persistenced/socket")).st_mode)
    assert sim_driver.path("/tmp/nvidia-mps").is_dir()
    assert sim_driver.path("/etc/debian_version").is_file()
    assert not sim_driver.path("/etc/redhat-release").exists()
    assert sim_driver_rhel.path("/etc/redhat-release").is_file()
    assert not sim_driver_rhel.path("/etc/debian_version").exists()
    assert sim_driver_rhel.lib_dir == sim_driver_rhel.root / "usr/lib64"
    assert sim_driver_rhel.lib32_dir == sim_driver_rhel.root / "usr/lib"


def test_fabricmanager_topology_key(build_sim, tmp_path: Path) -> None:
    import json

    from nvcontainer.simulate.presets import preset_document
    document = preset_document("dgx-h100-2")
    document["fabricmanager"] = True
    path = tmp_path / "fm.json"
    path.write_text(json.dumps(document))
    driver = build_sim(preset="fm", topology=path)
    assert stat.S_ISSOCK(os.lstat(driver.path("/var/run/nvidia-fabricmanager/socket")).st_mode)
    assert (driver.bin_dir / "nv-fabricmanager").is_file()
