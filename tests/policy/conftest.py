"""Small Driver snapshots for the policy tests: a DGX-A100-like host (8 GPUs, GPU 0 with 3 MIGs)."""

from __future__ import annotations

from typing import Callable, Sequence

import pytest

from nvcontainer.driver import DeviceNode, Driver, Gpu, MigDevice

# GPU index -> PCI bus of the eight A100s in a DGX A100.
DGX_A100_BUSES = (0x07, 0x0F, 0x47, 0x4E, 0x87, 0x90, 0xB7, 0xBD)


def gpu_uuid(index: int) -> str:
    return f"GPU-1d2c3b4a-{index:04x}-5e6f-8a9b-{index:012x}"


def mig_uuid(parent: int, index: int) -> str:
    return f"MIG-7f6e5d4c-{parent:04x}-{index:04x}-9a8b-{index:012x}"


def make_mig(parent: int, index: int) -> MigDevice:
    gi, ci = index + 1, 0
    base = f"/proc/driver/nvidia/capabilities/gpu{parent}/mig/gi{gi}"
    return MigDevice(
        index=index,
        parent_index=parent,
        uuid=mig_uuid(parent, index),
        name="1g.10gb",
        gpu_instance_id=gi,
        compute_instance_id=ci,
        memory_total=10 * 2**30,
        gi_caps_path=f"{base}/access",
        ci_caps_path=f"{base}/ci{ci}/access",
    )


def make_gpu(
    index: int,
    bus: int,
    *,
    brand: str = "Nvidia",
    arch: str = "8.0",
    migs: int = 0,
    mig_enabled: bool = False,
    mig_capable: bool = True,  # an A100, MIG mode on or off
) -> Gpu:
    return Gpu(
        index=index,
        minor=index,
        model="NVIDIA A100-SXM4-80GB",
        brand=brand,
        uuid=gpu_uuid(index),
        bus_id=f"00000000:{bus:02x}:00.0",
        architecture=arch,
        arch_name="Ampere",
        memory_total=80 * 2**30,
        memory_free=80 * 2**30,
        memory_used=0,
        node=DeviceNode(f"/dev/nvidia{index}", f"/dev/nvidia{index}", 195, index),
        mig_enabled=mig_enabled or migs > 0,
        mig_capable=mig_capable or mig_enabled or migs > 0,
        migs=tuple(make_mig(index, m) for m in range(migs)),
    )


def make_driver(gpus: Sequence[Gpu], *, cuda: str = "12.4", nvrm: str = "550.54.15") -> Driver:
    return Driver(
        root="/",
        dev_root="/",
        nvrm_version=nvrm,
        cuda_version=cuda,
        cuda_version_int=0,
        nvml_version="12." + nvrm,
        gpus=tuple(gpus),
        control_nodes=(),
        libraries=(),
        libraries32=(),
        binaries=(),
        ipcs=(),
        firmwares=(),
    )


def dgx_driver() -> Driver:
    return make_driver([make_gpu(i, bus, migs=3 if i == 0 else 0) for i, bus in enumerate(DGX_A100_BUSES)])


@pytest.fixture
def dgx() -> Driver:
    return dgx_driver()


@pytest.fixture
def gpu_factory() -> Callable[..., Gpu]:
    return make_gpu


@pytest.fixture
def driver_factory() -> Callable[..., Driver]:
    return make_driver
