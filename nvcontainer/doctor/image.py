"""Check an image's requirements (``NVIDIA_REQUIRE_*``, legacy ``CUDA_VERSION``) against the driver.

The requirements are taken from the image's environment as the hook takes them (toolkit
``internal/config/image``): every ``NVIDIA_REQUIRE_*`` but ``NVIDIA_REQUIRE_JETPACK``; a legacy
image (``CUDA_VERSION`` set, ``NVIDIA_REQUIRE_CUDA`` empty) adds ``cuda>=MAJOR.MINOR``;
``NVIDIA_DISABLE_REQUIRE`` true turns them all off.  They are evaluated with the same
``check_requirements`` as ``configure --require``, against every GPU of the driver.
"""

from __future__ import annotations

import json
import os
import re

from nvcontainer.doctor.check import Check, failed, noted, passed
from nvcontainer.driver import Driver
from nvcontainer.errors import InputError, RequirementError
from nvcontainer.policy.requirements import check_requirements, parse_requirement

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional, Tuple

REQUIRE_PREFIX = "NVIDIA_REQUIRE_"
IGNORED_REQUIRE = ("NVIDIA_REQUIRE_JETPACK",)
_CUDA_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?$")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")

CUDA_FIX = ("three ways out: (1) install a newer NVIDIA driver, one that supports CUDA {wanted}; (2) use an image "
            "built for CUDA {have} or older; (3) keep this driver and use CUDA forward compatibility: the image's "
            "/usr/local/cuda/compat libraries (the cuda-compat package; datacenter GPUs), which configure uses "
            "with `--cuda-compat-mode=ldconfig` (or `mount`)")
OTHER_FIX = ("run the image on a GPU and driver that meet it, or set NVIDIA_DISABLE_REQUIRE=true to skip the check "
             "(the container may then fail at run time)")
INVALID_FIX = ("write the variable as space-separated alternatives of comma-separated terms <name><op><value>, "
               "names cuda, driver, arch, brand (e.g. `cuda>=12.0 brand=tesla,driver>=535`)")


def read_env_file(path: str) -> Dict[str, str]:
    """``KEY=VALUE`` lines (blank lines and ``#`` comments skipped, ``export `` allowed)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise InputError(f"open failed: {path}: {(exc.strerror or str(exc)).lower()}") from None
    return parse_env(line[len("export "):] if line.startswith("export ") else line
                     for line in lines if line.strip() and not line.lstrip().startswith("#"))


def parse_env(entries: Iterable[object]) -> Dict[str, str]:
    """``KEY=VALUE`` strings to a dict (later entries win; entries without ``=`` are ignored)."""
    env: Dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, str) and "=" in entry:
            key, _, value = entry.partition("=")
            env[key.strip()] = value
    return env


def read_bundle_env(bundle: str) -> Dict[str, str]:
    """``process.env`` of an OCI bundle's config.json."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except OSError as exc:
        raise InputError(f"open failed: {path}: {(exc.strerror or str(exc)).lower()}") from None
    except ValueError as exc:
        raise InputError(f"invalid bundle config: {path}: {str(exc).splitlines()[0]}") from None
    process = config.get("process") if isinstance(config, dict) else None
    env = process.get("env") if isinstance(process, dict) else None
    return parse_env(env if isinstance(env, list) else [])


def legacy_requirement(cuda_version: str) -> Optional[str]:
    """``cuda>=MAJOR.MINOR`` from a legacy image's ``CUDA_VERSION`` (None: not a version)."""
    match = _CUDA_VERSION.match(cuda_version.strip())
    if not match:
        return None
    return f"cuda>={match.group(1)}.{match.group(2) or 0}"


def image_requirements(env: Dict[str, str]) -> Tuple[List[Tuple[str, str]], Optional[str]]:
    """(``[(source variable, predicate)]``, an error about the environment or None)."""
    if env.get("NVIDIA_DISABLE_REQUIRE", "") in _TRUE:
        return [], None
    disable = env.get("NVIDIA_DISABLE_REQUIRE")
    if disable is not None and disable not in _FALSE:
        return [], f"NVIDIA_DISABLE_REQUIRE={disable} is not a boolean"
    out = [(key, value) for key, value in sorted(env.items())
           if key.startswith(REQUIRE_PREFIX) and key not in IGNORED_REQUIRE and value]
    cuda_version = env.get("CUDA_VERSION", "")
    if cuda_version and not env.get("NVIDIA_REQUIRE_CUDA"):
        legacy = legacy_requirement(cuda_version)
        if legacy is None:
            return out, f"CUDA_VERSION={cuda_version} is not a version"
        out.append(("CUDA_VERSION", legacy))
    return out, None


def _wanted_cuda(predicate: str) -> Optional[str]:
    """The CUDA version a predicate asks for at least (its first ``cuda>=``/``cuda>``/``cuda=`` term)."""
    try:
        requirement = parse_requirement(predicate)
    except RequirementError:
        return None
    for clause in requirement.clauses:
        for term in clause:
            if term.name == "cuda" and term.op in (">=", ">", "="):
                return term.value
    return None


def image_check(env: Dict[str, str], driver: Optional[Driver], source: str) -> Check:
    """9. Whether the image's requirements hold on this driver."""
    name = "image-requirements"
    requirements, error = image_requirements(env)
    if error:
        return failed(name, f"image {source}: {error}", "fix the image's environment (e.g. CUDA_VERSION=12.4.1)")
    if env.get("NVIDIA_DISABLE_REQUIRE", "") in _TRUE:
        return noted(name, f"image {source}: requirements are disabled (NVIDIA_DISABLE_REQUIRE)")
    if not requirements:
        return noted(name, f"image {source} states no requirements")
    if driver is None:
        return noted(name, f"image {source}: requirements not checked, no working driver (see above)")
    gpus = tuple(driver.gpus)
    invalid: List[str] = []
    unsatisfied: List[Tuple[str, str]] = []
    for variable, predicate in requirements:
        try:
            check_requirements([predicate], driver, gpus)
        except RequirementError as exc:
            if exc.message == "invalid expression":
                invalid.append(f"{variable}={predicate}")
            else:
                unsatisfied.append((variable, predicate))
    have = f"driver {driver.nvrm_version} (CUDA {driver.cuda_version})"
    if invalid:
        return failed(name, f"image {source}: not a valid requirement: {'; '.join(invalid)}", INVALID_FIX)
    if unsatisfied:
        listed = "; ".join(f"{v}={p}" for v, p in unsatisfied)
        wanted = next((w for w in (_wanted_cuda(p) for _, p in unsatisfied) if w), None)
        if wanted is not None:
            return failed(name, f"image {source} needs CUDA {wanted} ({listed}); {have} is too old",
                          CUDA_FIX.format(wanted=wanted, have=driver.cuda_version))
        return failed(name, f"image {source}: unsatisfied on {have}: {listed}", OTHER_FIX)
    listed = "; ".join(p for _, p in requirements)
    return passed(name, f"image {source}: requirements satisfied by {have}: {listed}")
