"""GPU allocation awareness: which running container holds which GPU, shared or exclusively.

The original stack hands any GPU to any container.  Here ``configure`` records what each
container gets in a registry on the host (``registry``), so that:

- ``--device=auto:N`` / ``NVIDIA_VISIBLE_DEVICES=auto:N`` (``auto`` = ``auto:1``) picks N free
  whole GPUs (GPUs not in MIG mode), ``auto:mig:N`` N free MIG devices (``picking``, ``units``),
  best first by free memory, then utilisation, then index;
- ``exclusive`` access (``--exclusive``, ``Request(exclusive=True)``, ``NVIDIA_GPU_ACCESS=exclusive``)
  gets units nobody else holds, and keeps everyone else off them, explicit requests included;
- a record lives as long as its owner process (pid + start time, ``processes``): dead owners'
  records are reclaimed on every read, and ``release`` gives them back at once (poststop).

Public API: ``allocate``, ``withdraw``, ``release``, ``holdings``, ``peek``, ``resolve_devices``,
``owner_of``, ``exclusive_from_env``, ``auto_request``, ``state_dir``, and the values
``Allocation``, ``Owner``, ``Unit``, ``Claim``.
"""

from __future__ import annotations

from nvcontainer.allocation.claims import (
    ACCESS_ENV,
    Claim,
    allocate,
    exclusive_from_env,
    holdings,
    peek,
    release,
    resolve_devices,
    withdraw,
)
from nvcontainer.allocation.picking import auto_count, auto_request
from nvcontainer.allocation.processes import owner_of, start_time
from nvcontainer.allocation.records import EXCLUSIVE, SHARED, Allocation, Owner
from nvcontainer.allocation.registry import DEFAULT_STATE_DIR, STATE_DIR_ENV, Registry, RegistryUnavailable, state_dir
from nvcontainer.allocation.units import GPU, MIG, Candidate, Unit, candidates

__all__ = [
    "ACCESS_ENV",
    "DEFAULT_STATE_DIR",
    "EXCLUSIVE",
    "GPU",
    "MIG",
    "SHARED",
    "STATE_DIR_ENV",
    "Allocation",
    "Candidate",
    "Claim",
    "Owner",
    "Registry",
    "RegistryUnavailable",
    "Unit",
    "allocate",
    "auto_count",
    "auto_request",
    "candidates",
    "exclusive_from_env",
    "holdings",
    "owner_of",
    "peek",
    "release",
    "resolve_devices",
    "start_time",
    "state_dir",
    "withdraw",
]
