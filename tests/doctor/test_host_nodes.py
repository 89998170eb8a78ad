"""Unit checks: cgroups, host ldconfig, device nodes and /dev/char links, the kernel version line."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import List, Tuple

from nvcontainer.doctor.host import cgroup_check, cgroup_rules_check, ldconfig_check
from nvcontainer.doctor.nodes import dev_char_check, device_nodes_check, proc_gpu_minors
from nvcontainer.doctor.probe import DriverProbe, kernel_module_version
from nvcontainer.simulate import SimulatedDriver
from tests.doctor.helpers import dev_root_copy


def test_cgroup_v1_rules(tmp_path: Path) -> None:
    check = cgroup_rules_check(1, str(tmp_path))
    assert check.ok is False and check.summary.endswith("devices.allow does not exist)")
    (tmp_path / "devices.allow").write_text("")
    check = cgroup_rules_check(1, str(tmp_path))
    assert check.ok is True
    assert check.summary == f"cgroup v1: device rules can be set ({tmp_path / 'devices.allow'} is writable)"


def test_cgroup_v2_needs_bpf(tmp_path: Path) -> None:
    def works(fd: int, attach: int) -> Tuple[int, List[int]]:
        assert attach == 6 and fd >= 0  # BPF_CGROUP_DEVICE on an open directory
        return 0, [7, 9]

    def refused(fd: int, attach: int) -> Tuple[int, List[int]]:
        raise OSError(errno.EPERM, "Operation not permitted")

    ok = cgroup_rules_check(2, str(tmp_path), works)
    assert ok.ok is True and ok.summary == f"cgroup v2: BPF device programs can be managed (2 attached at {tmp_path})"
    bad = cgroup_rules_check(2, str(tmp_path), refused)
    assert bad.ok is False and bad.summary.endswith(": operation not permitted") and "CAP_BPF" in bad.fix
    gone = cgroup_rules_check(2, str(tmp_path / "nope"), works)
    assert gone.ok is False and "cannot open" in gone.summary


def test_cgroup_of_this_machine() -> None:
    # Debian 12 as root on a cgroup v1 hybrid: the devices controller, writable.
    check = cgroup_check()
    assert check.ok is True and check.summary.startswith("cgroup v1: device rules can be set")


def test_cgroup_detection_failure_is_a_check(tmp_path: Path) -> None:
    (tmp_path / "proc" / "1").mkdir(parents=True)
    (tmp_path / "proc" / "1" / "cgroup").write_text("garbage\n")
    check = cgroup_check(str(tmp_path), pid=1)
    assert check.ok is False and check.summary.startswith("cannot find the devices cgroup: malformed cgroup entry")


def test_ldconfig(tmp_path: Path) -> None:
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    assert ldconfig_check(str(tmp_path)).summary == "no host ldconfig at /sbin/ldconfig"
    (sbin / "ldconfig").write_text("#!/bin/sh\nexec /sbin/ldconfig.real \"$@\"\n")
    check = ldconfig_check(str(tmp_path))
    assert check.ok is False and check.summary == "host ldconfig /sbin/ldconfig is not an ELF executable (a script?)"
    shutil.copy("/bin/true", sbin / "ldconfig.real")  # dynamically linked, and preferred as on Ubuntu
    check = ldconfig_check(str(tmp_path))
    assert check.ok is False and check.summary == "host ldconfig /sbin/ldconfig.real is dynamically linked"
    shutil.copy("/sbin/ldconfig", sbin / "ldconfig.real")  # Debian's own is static
    assert ldconfig_check(str(tmp_path)).summary == "host ldconfig /sbin/ldconfig.real is a static executable"
    assert ldconfig_check("/").ok is True


def _probe(dev_root: str) -> DriverProbe:
    return DriverProbe(root=dev_root, dev_root=dev_root, kernel_version=kernel_module_version(dev_root), driver=None)


def test_device_nodes_missing_and_wrong(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    dev_root = dev_root_copy(str(sim_driver.root), tmp_path / "d", char_links=False,
                             skip=("nvidia3", "nvidia-uvm"), swap=("nvidia0", "nvidia1"))
    assert proc_gpu_minors(dev_root) == tuple(range(8))
    check = device_nodes_check(_probe(dev_root))
    assert check.ok is False
    assert check.summary == ("device nodes: missing /dev/nvidia3, /dev/nvidia-uvm; "
                             "/dev/nvidia0 is 195:1, expected 195:0")
    assert "nvidia-modprobe" in check.fix


def test_uvm_not_loaded(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    dev_root = dev_root_copy(str(sim_driver.root), tmp_path / "d", char_links=True)
    devices = Path(dev_root) / "proc" / "devices"
    devices.write_text("".join(line for line in devices.read_text().splitlines(keepends=True)
                               if not line.rstrip().endswith(" nvidia-uvm")))
    check = device_nodes_check(_probe(dev_root))
    assert check.ok is False and "nvidia-uvm is not in /proc/devices" in check.summary
    assert "modprobe nvidia-uvm" in check.fix


def test_dev_char_links_partly_missing(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    dev_root = dev_root_copy(str(sim_driver.root), tmp_path / "d", char_links=True)
    os.unlink(Path(dev_root) / "dev" / "char" / "195:7")
    os.unlink(Path(dev_root) / "dev" / "char" / "195:2")
    os.symlink("../nvidia1", Path(dev_root) / "dev" / "char" / "195:2")  # a link to the wrong node
    check = dev_char_check(_probe(dev_root))
    assert check.ok is False
    assert check.summary == "2 of 12 NVIDIA device nodes have no /dev/char link (/dev/char/195:2, /dev/char/195:7)"
    os.unlink(Path(dev_root) / "dev" / "char" / "195:2")
    os.symlink("/dev/nvidia2", Path(dev_root) / "dev" / "char" / "195:2")  # absolute: read inside the dev root
    os.symlink("../nvidia7", Path(dev_root) / "dev" / "char" / "195:7")
    assert dev_char_check(_probe(dev_root)).ok is True


def test_no_nodes_no_link_check(tmp_path: Path) -> None:
    check = dev_char_check(_probe(str(tmp_path)))
    assert check.ok is None


def test_kernel_version_lines(tmp_path: Path) -> None:
    proc = tmp_path / "proc" / "driver" / "nvidia"
    proc.mkdir(parents=True)
    assert kernel_module_version(str(tmp_path)) is None
    (proc / "version").write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  (dvs-builder@U16)\n")
    assert kernel_module_version(str(tmp_path)) == "550.54.15"
    (proc / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.161.08  Mon Jan  1\n")
    assert kernel_module_version(str(tmp_path)) == "535.161.08"
    (proc / "version").write_text("garbled\n")
    assert kernel_module_version(str(tmp_path)) == ""
