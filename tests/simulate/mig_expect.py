"""What ``mig_walk.py`` must print for a topology: every value and return code of the walk, computed
from the topology (its profile tables and MIG devices) and nvml.h's rules, not from the simulator's C.

``hidden_gis`` / ``hidden_cis`` give, per GPU index, the GPU instances and (gi, ci) compute
instances whose access capability the walking process cannot use (as inside a container): they
are not listed, but still take room when capacity is computed.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from nvcontainer.simulate import SimGpu, SimMig, Topology
from nvcontainer.simulate.migprofiles import ComputeInstanceProfile, GpuInstanceProfile

SUCCESS, INVALID, NOT_SUPPORTED, NOT_FOUND, VERSION_MISMATCH = 0, 2, 3, 6, 25
GI_PROFILE_COUNT, CI_PROFILE_COUNT = 0x12, 0x9
GI_PROFILE_IDS = range(24)
GPU_INSTANCE_IDS = range(16)
CI_IDS = range(8)
GI_V2, CI_V2 = 0x02000098, 0x02000088


def _gi_fields(p: GpuInstanceProfile, named: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        "id": p.id, "isP2pSupported": int(p.p2p), "sliceCount": p.slices, "instanceCount": p.instances,
        "multiprocessorCount": p.sm_count, "copyEngineCount": p.copy_engines, "decoderCount": p.decoders,
        "encoderCount": p.encoders, "jpegCount": p.jpegs, "ofaCount": p.ofas, "memorySizeMB": p.memory_mib,
    }
    if named:
        out.update(name=f"MIG {p.name}", version=GI_V2)
    return out


def _ci_fields(gp: GpuInstanceProfile, cp: ComputeInstanceProfile, named: bool) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        "id": cp.id, "sliceCount": cp.slices, "instanceCount": cp.instances, "multiprocessorCount": cp.sm_count,
        "sharedCopyEngineCount": gp.copy_engines, "sharedDecoderCount": gp.decoders,
        "sharedEncoderCount": gp.encoders, "sharedJpegCount": gp.jpegs, "sharedOfaCount": gp.ofas,
    }
    if named:
        out.update(name=f"MIG {cp.name}", version=CI_V2)
    return out


def _greedy(starts: Tuple[int, ...], size: int, busy: Set[int]) -> int:
    taken = set(busy)
    count = 0
    for start in starts:
        span = set(range(start, start + size))
        if not span & taken:
            taken |= span
            count += 1
    return count


def gi_remaining(gpu: SimGpu, profile: GpuInstanceProfile) -> int:
    """How many more GPU instances of ``profile`` fit beside every GPU instance of the topology."""
    assert gpu.mig_profiles is not None
    instances = {(m.gi, m.gi_profile, m.gi_start) for m in gpu.migs}
    busy = {s for _, p, start in instances for s in range(start, start + p.placement_size)}
    used = sum(p.slices for _, p, _ in instances)
    same = sum(1 for _, p, _ in instances if p == profile)
    return min(_greedy(profile.starts, profile.placement_size, busy),
               (gpu.mig_profiles.compute_slices - used) // profile.slices, max(profile.instances - same, 0))


def ci_remaining(gpu: SimGpu, gi: int, gp: GpuInstanceProfile, cp: ComputeInstanceProfile) -> int:
    members = [m for m in gpu.migs if m.gi == gi]
    busy = {s for m in members for s in range(m.ci_start, m.ci_start + m.ci_slices)}
    same = sum(1 for m in members if m.ci_profile == cp)
    return min(_greedy(cp.starts, cp.slices, busy), (gp.slices - len(busy)) // cp.slices, max(cp.instances - same, 0))


def _compute_instance(mig: SimMig) -> Dict[str, Any]:
    return {"id": mig.ci, "profile_id": mig.ci_profile.id, "placement": [mig.ci_start, mig.ci_slices],
            "device_is_gpu": True, "gi_is_parent": True, "by_id_same": True,
            "v1": [SUCCESS, mig.ci, mig.ci_profile.id, True, True]}


def _gpu_instance(gpu: SimGpu, gi: int, visible: List[SimMig]) -> Dict[str, Any]:
    gp = next(m.gi_profile for m in gpu.migs if m.gi == gi)
    start = next(m.gi_start for m in gpu.migs if m.gi == gi)
    by_index = {cp.index: cp for cp in gp.compute_profiles}
    out: Dict[str, Any] = {"id": gi, "profile_id": gp.id, "placement": [start, gp.placement_size],
                           "device_is_gpu": True, "by_id_same": True, "ci_profiles": [], "ci_placements": [],
                           "ci_remaining": [], "compute_instances": []}
    for index in range(CI_PROFILE_COUNT + 1):
        cp = by_index.get(index)
        rc = INVALID if index >= CI_PROFILE_COUNT else (SUCCESS if cp else NOT_SUPPORTED)
        out["ci_profiles"].append([index, rc, _ci_fields(gp, cp, False) if cp else None,
                                   rc, _ci_fields(gp, cp, True) if cp else None])
        out["ci_placements"].append([index, rc, [[s, cp.slices] for s in cp.starts] if cp else None])
        out["ci_remaining"].append([index, rc, ci_remaining(gpu, gi, gp, cp) if cp else None])
        members = sorted((m for m in visible if m.gi == gi and m.ci_profile == cp), key=lambda m: m.ci)
        out["compute_instances"].append([index, rc, [_compute_instance(m) for m in members] if cp else None])
    ids = {m.ci for m in visible if m.gi == gi}
    out["ci_by_id"] = [[ci, SUCCESS if ci in ids else NOT_FOUND] for ci in CI_IDS]
    out["ci_profile_bad_version"] = VERSION_MISMATCH
    out["ci_engine_profile_1"] = INVALID
    return out


def _mig_device(gpu: SimGpu, mig: SimMig) -> Dict[str, Any]:
    return {
        "rc": SUCCESS, "uuid": mig.uuid, "name": f"{gpu.name} MIG {mig.name}", "gi": mig.gi, "ci": mig.ci,
        "is_mig": 1, "parent_is_gpu": True, "by_uuid_same": True, "memory_total": mig.memory_total,
        "attributes": {
            "multiprocessorCount": mig.sm_count, "sharedCopyEngineCount": mig.gi_profile.copy_engines,
            "sharedDecoderCount": mig.gi_profile.decoders, "sharedEncoderCount": mig.gi_profile.encoders,
            "sharedJpegCount": mig.gi_profile.jpegs, "sharedOfaCount": mig.gi_profile.ofas,
            "gpuInstanceSliceCount": mig.gi_slices, "computeInstanceSliceCount": mig.ci_slices,
            "memorySizeMB": mig.gi_profile.memory_mib,
        },
        "gi_profile_on_mig_handle": INVALID,
    }


def expected_gpu(gpu: SimGpu, hidden_gis: Set[int], hidden_cis: Set[Tuple[int, int]]) -> Dict[str, Any]:
    capable, enabled = gpu.mig_capable, gpu.mig_enabled
    profiles = {p.index: p for p in gpu.mig_profiles.profiles} if gpu.mig_profiles else {}
    by_id = {p.id: p for p in profiles.values()}
    visible = [m for m in gpu.migs if m.gi not in hidden_gis and (m.gi, m.ci) not in hidden_cis]
    visible_gis = sorted({m.gi for m in gpu.migs} - hidden_gis)
    off = NOT_SUPPORTED if not (capable and enabled) else None
    max_migs = gpu.max_mig_devices if enabled else 0
    out: Dict[str, Any] = {
        "minor": gpu.minor,
        "mig_mode": [SUCCESS, [int(enabled)] * 2] if capable else [NOT_SUPPORTED, None],
        "max_migs": [SUCCESS, max_migs],
        "gi_profiles": [],
        "gi_profiles_by_id": [[pid, off or (SUCCESS if pid in by_id else INVALID)] for pid in GI_PROFILE_IDS],
        "placements": [[pid, SUCCESS, [[s, by_id[pid].placement_size] for s in by_id[pid].starts]]
                       if capable and pid in by_id else [pid, NOT_SUPPORTED, None] for pid in GI_PROFILE_IDS],
        "remaining": [[pid, off or (SUCCESS if pid in by_id else NOT_SUPPORTED),
                       gi_remaining(gpu, by_id[pid]) if off is None and pid in by_id else None]
                      for pid in GI_PROFILE_IDS],
        "gpu_instances": [],
        "gi_by_id": [[gi, off or (SUCCESS if gi in visible_gis else NOT_FOUND)] for gi in GPU_INSTANCE_IDS],
        "mig_by_index_0": None if max_migs else (INVALID if capable else NOT_SUPPORTED),
        "gi_profile_bad_version": VERSION_MISMATCH if capable else NOT_SUPPORTED,
    }
    for index in range(GI_PROFILE_COUNT + 1):
        p = profiles.get(index)
        rc = off or (INVALID if index >= GI_PROFILE_COUNT else (SUCCESS if p else NOT_SUPPORTED))
        out["gi_profiles"].append([index, rc, _gi_fields(p, False) if p and not rc else None,
                                   rc, _gi_fields(p, True) if p and not rc else None])
    for pid in GI_PROFILE_IDS:
        if off or pid not in by_id:
            out["gpu_instances"].append([pid, off or INVALID, None])
            continue
        mine = [gi for gi in visible_gis if any(m.gi == gi and m.gi_profile == by_id[pid] for m in gpu.migs)]
        out["gpu_instances"].append([pid, SUCCESS, [_gpu_instance(gpu, gi, visible) for gi in mine]])
    out["migs"] = [_mig_device(gpu, visible[i]) if i < len(visible) else {"rc": NOT_FOUND} for i in range(max_migs)]
    return out


def expected_walk(topology: Topology, hidden_gis: Optional[Mapping[int, Set[int]]] = None,
                  hidden_cis: Optional[Mapping[int, Set[Tuple[int, int]]]] = None) -> Dict[str, Any]:
    hidden_gis = hidden_gis or {}
    hidden_cis = hidden_cis or {}
    return {"gpus": [expected_gpu(gpu, hidden_gis.get(i, set()), hidden_cis.get(i, set()))
                     for i, gpu in enumerate(topology.gpus)]}
