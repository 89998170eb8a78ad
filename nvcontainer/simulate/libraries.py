"""Plan the compilation of the driver's libraries and binaries.

``plan_builds`` returns two waves of ``CompileJob``: the first holds everything without a
DT_NEEDED on another driver library, the second what links against the first (GLX/EGL/GLES
front ends, libnvidia-encode, nvidia-smi).  Stub libraries are compiled from one tiny generated
C file per SONAME, written to ``scratch``; libnvidia-ml and libcuda come from ``csrc/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from nvcontainer.simulate.catalog import (
    BY_NAME,
    COMPUTE_BINARIES,
    FABRICMANAGER_BINARY,
    LIBRARIES,
    UTILITY_BINARIES,
    LibSpec,
)
from nvcontainer.simulate.compiler import CSRC, CompileJob, c_string
from nvcontainer.simulate.layout import DECOY_DIR, DECOY_VERSION, Layout
from nvcontainer.simulate.topology import Topology

# .note.ABI-tag: namesz 4, descsz 16, type 1 (NT_GNU_ABI_TAG), "GNU", Linux 2.3.99.
_ABI_NOTE = r"""
__asm__(".section .note.ABI-tag,\"a\",@note\n"
        "  .p2align 2\n"
        "  .long 4\n"
        "  .long 16\n"
        "  .long 1\n"
        "  .asciz \"GNU\"\n"
        "  .long 0, 2, 3, 99\n"
        "  .previous\n");
"""


@dataclass(frozen=True)
class BuildPlan:
    """Compile jobs in dependency order: ``waves[1]`` links against ``waves[0]``."""

    waves: Tuple[Tuple[CompileJob, ...], ...]


def _stub_source(spec_name: str, symbol: str, driver_version: str, abi_note: bool) -> str:
    lines = [
        f"/* Generated stub of {spec_name} for the simulated NVIDIA driver {driver_version}. */",
        f'__attribute__((visibility("default"))) int {symbol}(void) {{ return 0; }}',
        "__attribute__((visibility(\"default\"))) const char *nvsim_driver_version(void)",
        f"{{ return {c_string(driver_version)}; }}",
    ]
    if abi_note:
        lines.append(_ABI_NOTE)
    return "\n".join(lines) + "\n"


def _version_defines(topology: Topology) -> Tuple[Tuple[str, str], ...]:
    return (
        ("NV_DRIVER_VERSION", c_string(topology.driver_version)),
        ("NV_NVML_VERSION", c_string(topology.nvml_version)),
        ("NV_CUDA_VERSION", str(topology.cuda_version)),
    )


def _library_job(spec: LibSpec, topology: Topology, lib_dir: Path, scratch: Path, m32: bool) -> CompileJob:
    version = topology.driver_version
    if spec.sources:
        sources = tuple(CSRC / name for name in spec.sources)
    else:
        suffix = "32" if m32 else "64"
        stub = scratch / f"{spec.name}-{suffix}.c"
        stub.write_text(_stub_source(spec.name, spec.symbol, version, spec.abi_note))
        sources = (stub,)
    return CompileJob(
        output=lib_dir / spec.file_name(version),
        sources=sources,
        soname=spec.soname_for(version),
        m32=m32,
        defines=_version_defines(topology),
        link=tuple(BY_NAME[dep].file_name(version) for dep in spec.needed),
        link_dirs=(lib_dir,) if spec.needed else (),
    )


def _decoy_job(root: Path, scratch: Path) -> CompileJob:
    source = scratch / "decoy-nvml.c"
    source.write_text(
        "/* A foreign libnvidia-ml.so.1 left behind by an older driver: not this driver's. */\n"
        '__attribute__((visibility("default"))) int nvmlInit_v2(void) { return 18; }\n'
    )
    return CompileJob(
        output=root / DECOY_DIR.lstrip("/") / f"libnvidia-ml.so.{DECOY_VERSION}",
        sources=(source,),
        soname="libnvidia-ml.so.1",
    )


def plan_builds(topology: Topology, layout: Layout, root: Path, scratch: Path, with_32bit: bool) -> BuildPlan:
    """All compile jobs for a driver root being assembled at ``root``."""
    lib_dir = root / layout.lib_dir.lstrip("/")
    lib32_dir = root / layout.lib32_dir.lstrip("/")
    bin_dir = root / layout.bin_dir.lstrip("/")
    first: List[CompileJob] = [_decoy_job(root, scratch)]
    second: List[CompileJob] = []
    for spec in LIBRARIES:
        targets = [(lib_dir, False)] + ([(lib32_dir, True)] if with_32bit and spec.lib32 else [])
        for directory, m32 in targets:
            job = _library_job(spec, topology, directory, scratch, m32)
            (second if spec.needed else first).append(job)
    tools = list(UTILITY_BINARIES + COMPUTE_BINARIES)
    if topology.fabricmanager:
        tools.append(FABRICMANAGER_BINARY)
    for tool in tools:
        first.append(CompileJob(
            output=bin_dir / tool,
            sources=(CSRC / "tool.c",),
            defines=(("TOOL_NAME", c_string(tool)), ("NV_DRIVER_VERSION", c_string(topology.driver_version))),
        ))
    second.append(CompileJob(
        output=bin_dir / "nvidia-smi",
        sources=(CSRC / "nvidia_smi.c",),
        link=(BY_NAME["libnvidia-ml"].file_name(topology.driver_version),),
        link_dirs=(lib_dir,),
    ))
    return BuildPlan(waves=(tuple(first), tuple(second)))
