"""The body of ``nvc-ctk cdi generate``, without typer: the typer command (``cli.ctk_cdi``) and the
fast path (``cli.ctk_fast``) both call ``generate_command`` with the parsed options, so the two
cannot drift apart.  Also the small helpers the other ``cdi`` commands share."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

PROG = "nvc-ctk"


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _split(values: Optional[List[str]]) -> List[str]:
    """Repeated options and comma lists (urfave/cli string slices, and their env variables) as one list."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def _default_driver_root() -> str:
    """nvidia-ctk's chain: NVIDIA_CTK_DRIVER_ROOT, then config.toml's nvidia-container-cli.root, then /."""
    if os.environ.get("NVIDIA_CTK_DRIVER_ROOT"):
        return os.environ["NVIDIA_CTK_DRIVER_ROOT"]
    from nvcontainer.config.loading import load_config
    from nvcontainer.config.location import config_path

    path, required = config_path()
    return load_config(path, required=required).nvidia_container_cli.root or "/"


def _output_format(output: Optional[str], fmt: Optional[str]) -> str:
    from nvcontainer.cdi.errors import CdiError

    implied = None
    if output:
        ext = os.path.splitext(output)[1].lower()
        implied = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(ext)
    if fmt is None:
        return implied or "yaml"
    fmt = fmt.lower()
    if fmt not in ("yaml", "json"):
        raise CdiError(f"invalid output format: {fmt}: use yaml or json")
    if implied and implied != fmt:
        _warn(f"requested output format {fmt!r} does not match format implied by output file name: {implied!r}")
    return fmt


def _output_path(output: str, fmt: str) -> str:
    """nvidia-ctk adds the format's extension to a file name without .yaml/.json (.yml is kept)."""
    if os.path.splitext(output)[1].lower() in (".yaml", ".json", ".yml"):
        return output
    return output + (".json" if fmt == "json" else ".yaml")


def generate_command(output: Optional[str] = None, fmt: Optional[str] = None, mode: str = "auto",
                     strategy: Optional[List[str]] = None, driver_root: Optional[str] = None,
                     dev_root: Optional[str] = None, library_search_path: Optional[List[str]] = None,
                     config_search_path: Optional[List[str]] = None, ldcache: Optional[str] = None,
                     vendor: str = "nvidia.com", class_: str = "gpu", no_all_device: bool = False,
                     device_id: Optional[List[str]] = None, hook_path: Optional[str] = None,
                     ldconfig_path: Optional[str] = None, disable_hook: Optional[List[str]] = None,
                     enable_hook: Optional[List[str]] = None, feature_flag: Optional[List[str]] = None,
                     compat32: bool = False, mps_dir: bool = False, driver_proc: Optional[bool] = None) -> None:
    """Generate a CDI spec for the GPUs of this machine (or of ``driver_root``), as nvidia-ctk does.
    Discovery comes from the driver snapshot while it is exact (as for ``nvc-cli info``): the spec
    holds only files and device nodes, which the snapshot's fingerprint covers."""
    from nvcontainer.cdi.errors import CdiError
    from nvcontainer.cdi.generate import generate
    from nvcontainer.cdi.spec import dump_spec, write_spec
    from nvcontainer.cdi.validate import validate
    from nvcontainer.snapshot import discover_cached

    fmt = _output_format(output, fmt)
    ids = _split(device_id) or ["all"]
    if "none" in ids and not no_all_device:
        _warn("disabling generation of 'all' device")
        no_all_device = True
    if hook_path and not os.path.isabs(hook_path):
        raise CdiError(f"invalid hook path {hook_path!r}: not an absolute path")
    driver = discover_cached(driver_root or _default_driver_root(), ldcache, dev_root=dev_root)
    document = generate(driver, device_name_strategy=_split(strategy) or ["index", "uuid"], vendor=vendor,
                        class_=class_, all_device=not no_all_device, hook_path=hook_path, mode=mode.lower(),
                        device_ids=ids, disabled_hooks=_split(disable_hook), enabled_hooks=_split(enable_hook),
                        ldconfig_path=ldconfig_path, library_search_paths=_split(library_search_path),
                        config_search_paths=_split(config_search_path), feature_flags=_split(feature_flag),
                        compat32=compat32, mps_dir=mps_dir, driver_proc=driver_proc)
    target = _output_path(output, fmt) if output else None
    validate(document, target or "<generated>", schema=False)
    if target:
        write_spec(document, target, fmt)
    else:
        sys.stdout.write(dump_spec(document, fmt))
