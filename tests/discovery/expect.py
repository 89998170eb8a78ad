"""Expectations computed from a simulated topology, independently of nvcontainer.discovery."""

from __future__ import annotations

from typing import List

BRANDS = {2: "Tesla", 5: "GeForce", 14: "Nvidia"}


def bus_location(bus_id: str) -> str:
    domain, bus, rest = bus_id.split(":")
    device = rest.split(".")[0]
    return f"{int(domain, 16):08x}:{int(bus, 16):02x}:{int(device, 16):02x}.0"


def cuda_string(version: int) -> str:
    return f"{version // 1000}.{version % 1000 // 10}"


def info_text(topology) -> str:  # type: ignore[no-untyped-def]
    out: List[str] = [
        "NVRM version:   " + topology.driver_version,
        "CUDA version:   " + cuda_string(topology.cuda_version),
    ]
    for index, gpu in enumerate(topology.gpus):
        out += [
            "",
            f"Device Index:   {index}",
            f"Device Minor:   {gpu.minor}",
            f"Model:          {gpu.name}",
            f"Brand:          {BRANDS[gpu.brand]}",
            f"GPU UUID:       {gpu.uuid}",
            f"Bus Location:   {bus_location(gpu.bus_id)}",
            f"Architecture:   {gpu.cc_major}.{gpu.cc_minor}",
        ]
    return "\n".join(out) + "\n"
