"""Assemble a simulated driver root: ``build()`` and the ``SimulatedDriver`` it returns.

The tree is assembled in a temporary directory next to the destination and renamed into place,
so a build is all-or-nothing and rebuilding into an existing root replaces it cleanly.  A
non-empty destination is only replaced if it carries the marker file of an earlier build.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

from nvcontainer.simulate.compiler import find_compiler, run_jobs, supports_m32
from nvcontainer.simulate.devices import create_device_nodes
from nvcontainer.simulate.errors import SimulateError
from nvcontainer.simulate.layout import DECOY_DIR, get_layout
from nvcontainer.simulate.ldcache import add_dev_links, run_ldconfig
from nvcontainer.simulate.libraries import plan_builds
from nvcontainer.simulate.presets import DEFAULT_PRESET
from nvcontainer.simulate.procfs import write_procfs
from nvcontainer.simulate.rootfiles import write_root_files
from nvcontainer.simulate.topology import Topology, TopologySource, load_topology

MARKER = ".nvsim-topology.json"


@dataclass(frozen=True)
class SimulatedDriver:
    """A built driver root.  Paths are absolute host paths; ``layout`` is the layout name."""

    root: Path
    layout: str
    lib_dir: Path
    lib32_dir: Optional[Path]      # None when this machine cannot build 32-bit code
    bin_dir: Path
    topology: Topology
    has_devices: bool

    @property
    def has_32bit(self) -> bool:
        return self.lib32_dir is not None

    @property
    def decoy_dir(self) -> Path:
        """Directory of the foreign ``libnvidia-ml.so.470.00.00`` that discovery must skip."""
        return self.root / DECOY_DIR.lstrip("/")

    @property
    def nvml_library(self) -> Path:
        return self.lib_dir / f"libnvidia-ml.so.{self.topology.driver_version}"

    @property
    def cuda_library(self) -> Path:
        return self.lib_dir / f"libcuda.so.{self.topology.driver_version}"

    def path(self, rel: str) -> Path:
        """The host path of a root-relative path such as ``/dev/nvidia0``."""
        return self.root / rel.lstrip("/")

    def env(self) -> Dict[str, str]:
        """Environment for running the root's binaries from the host."""
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = str(self.lib_dir)
        return env


def _populate(tmp: Path, topology: Topology, layout_name: str, devices: bool) -> bool:
    layout = get_layout(layout_name)
    compiler = find_compiler()
    with_32bit = supports_m32(compiler)
    dirs = [layout.lib_dir, layout.bin_dir, DECOY_DIR] + ([layout.lib32_dir] if with_32bit else [])
    for rel in dirs:
        (tmp / rel.lstrip("/")).mkdir(parents=True, exist_ok=True)
    failure: List[BaseException] = []
    with tempfile.TemporaryDirectory(prefix="nvsim-src-") as scratch:
        plan = plan_builds(topology, layout, tmp, Path(scratch), with_32bit)

        def compile_all() -> None:
            try:
                for wave in plan.waves:
                    run_jobs(compiler, wave)
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)

        worker = threading.Thread(target=compile_all, name="nvsim-compile")
        worker.start()
        try:
            write_procfs(tmp, topology)
            write_root_files(tmp, topology, layout)
            if devices:
                create_device_nodes(tmp, topology)
        finally:
            worker.join()
    if failure:
        raise failure[0]
    run_ldconfig(tmp)
    lib_dirs = [tmp / layout.lib_dir.lstrip("/")]
    if with_32bit:
        lib_dirs.append(tmp / layout.lib32_dir.lstrip("/"))
    add_dev_links(lib_dirs)
    (tmp / MARKER).write_text(json.dumps({"layout": layout_name, "topology": asdict(topology)}, indent=1) + "\n")
    return with_32bit


def _check_replaceable(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise SimulateError(f"{dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MARKER).is_file():
        raise SimulateError(f"refusing to replace {dest}: not empty and not a simulated driver root")


def build(
    directory: Union[str, Path],
    preset: str = DEFAULT_PRESET,
    topology: Optional[TopologySource] = None,
    layout: str = "debian",
    devices: bool = True,
) -> SimulatedDriver:
    """Build (or rebuild) a simulated driver root at ``directory``.

    ``topology`` (a Topology, a preset name or a JSON file path) overrides ``preset``.  With
    ``devices=False`` no device nodes are made (no root needed, but NVML then sees no driver).
    """
    resolved = load_topology(topology if topology is not None else preset)
    layout_obj = get_layout(layout)
    if devices and os.geteuid() != 0:
        raise SimulateError("creating device nodes needs root; build with devices=False (--no-devices)")
    dest = Path(directory).absolute()
    _check_replaceable(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        os.chmod(tmp, 0o755)
        with_32bit = _populate(tmp, resolved, layout, devices)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.rename(dest, old / "root")
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SimulatedDriver(
        root=dest,
        layout=layout,
        lib_dir=dest / layout_obj.lib_dir.lstrip("/"),
        lib32_dir=dest / layout_obj.lib32_dir.lstrip("/") if with_32bit else None,
        bin_dir=dest / layout_obj.bin_dir.lstrip("/"),
        topology=resolved,
        has_devices=devices,
    )
