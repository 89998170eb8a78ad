"""``nvc-ctk cdi generate`` without typer, for the command lines scripts and units run all the time.

Importing typer (and building the ``nvc-ctk`` app with every command group) costs more than the
rest of ``cdi generate`` on a 2-GPU host; ``nvidia-ctk cdi generate`` takes 38 ms in all.  So
``cli.entry.run_ctk`` first hands the command line to ``try_run``: a plain ``cdi generate`` whose
options are all in the table below (spelled as click accepts them: the option parser is
``cli.fast``'s), with none of the command's environment variables set, is run here through the
same body the typer command calls (``cli.cdi_generate.generate_command``).  Anything else (help,
another command, an environment variable typer would read, a spelling not in the table,
``--no-driver-proc``) returns None untouched and typer runs it.  ``tests/cli/test_ctk_fast_path.py``
checks the table and the variables against the typer command and compares runs byte for byte.
"""

from __future__ import annotations

import os

from cli.fast import FLAG, MULTI, VALUE, _NotMine, _options, run_reporting

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

PROG = "nvc-ctk"

# option spelling -> (generate_command's parameter, kind): the typer command's, checked by a test.
GENERATE: Dict[str, Tuple[str, str]] = {
    "--output": ("output", VALUE), "-o": ("output", VALUE),
    "--format": ("fmt", VALUE),
    "--mode": ("mode", VALUE), "--discovery-mode": ("mode", VALUE),
    "--device-name-strategy": ("strategy", MULTI),
    "--driver-root": ("driver_root", VALUE),
    "--dev-root": ("dev_root", VALUE),
    "--library-search-path": ("library_search_path", MULTI),
    "--config-search-path": ("config_search_path", MULTI),
    "--ldcache": ("ldcache", VALUE),
    "--vendor": ("vendor", VALUE), "--cdi-vendor": ("vendor", VALUE),
    "--class": ("class_", VALUE), "--cdi-class": ("class_", VALUE),
    "--no-all-device": ("no_all_device", FLAG),
    "--device-id": ("device_id", MULTI), "--device-ids": ("device_id", MULTI),
    "--device": ("device_id", MULTI), "--devices": ("device_id", MULTI),
    "--nvidia-cdi-hook-path": ("hook_path", VALUE), "--nvidia-ctk-path": ("hook_path", VALUE),
    "--ldconfig-path": ("ldconfig_path", VALUE),
    "--disable-hook": ("disable_hook", MULTI), "--disable-hooks": ("disable_hook", MULTI),
    "--enable-hook": ("enable_hook", MULTI), "--enable-hooks": ("enable_hook", MULTI),
    "--feature-flag": ("feature_flag", MULTI), "--feature-flags": ("feature_flag", MULTI),
    "--compat32": ("compat32", FLAG),
    "--mps-pipe-dir": ("mps_dir", FLAG),
    "--driver-proc": ("driver_proc", FLAG),
}
# The variables typer reads for the command's options (a set one means typer parses: its rules
# for splitting and converting them are typer's own).
ENVVARS = (
    "NVIDIA_CTK_CDI_OUTPUT_FILE_PATH", "NVIDIA_CTK_CDI_GENERATE_OUTPUT_FORMAT", "NVIDIA_CTK_CDI_GENERATE_MODE",
    "NVIDIA_CTK_CDI_GENERATE_DEVICE_NAME_STRATEGIES", "NVIDIA_CTK_DEV_ROOT",
    "NVIDIA_CTK_CDI_GENERATE_LIBRARY_SEARCH_PATHS", "NVIDIA_CTK_CDI_GENERATE_CONFIG_SEARCH_PATHS",
    "NVIDIA_CTK_CDI_GENERATE_VENDOR", "NVIDIA_CTK_CDI_GENERATE_CLASS", "NVIDIA_CTK_CDI_GENERATE_NO_ALL_DEVICE",
    "NVIDIA_CTK_CDI_GENERATE_DEVICE_IDS", "NVIDIA_CTK_CDI_HOOK_PATH", "NVIDIA_CTK_CDI_GENERATE_LDCONFIG_PATH",
    "NVIDIA_CTK_CDI_GENERATE_DISABLED_HOOKS", "NVIDIA_CTK_CDI_GENERATE_ENABLED_HOOKS",
    "NVIDIA_CTK_CDI_GENERATE_FEATURE_FLAGS",
)


def parse(argv: Sequence[str]) -> Optional[Dict[str, Any]]:
    """``generate_command``'s keyword arguments for a command line this fast path runs, else None."""
    args = list(argv)
    if args[:2] != ["cdi", "generate"] or any(os.environ.get(name) is not None for name in ENVVARS):
        return None
    values: Dict[str, Any] = {}
    positional: List[str] = []
    try:
        end = _options(args, 2, GENERATE, values, positional, stop_at_positional=False)
    except _NotMine:
        return None
    if end != len(args) or positional:
        return None
    return values


def try_run(argv: Sequence[str]) -> Optional[int]:
    """Run ``argv`` (without the program name) if it is a command line of this fast path: its exit
    status (0, or 1 after one ``nvc-ctk: <stage> error: ...`` line); None when typer must."""
    values = parse(argv)
    if values is None:
        return None
    from cli.cdi_generate import generate_command

    return run_reporting(lambda: generate_command(**values), PROG)
