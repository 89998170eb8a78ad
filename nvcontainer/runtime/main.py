"""``nvc-container-runtime [runc global flags] SUBCOMMAND ...``: edit config.json on ``create``, exec runc.

The argv reaches the low-level runtime unchanged (``os.execv``, same environment).  Errors go to
stderr as ``nvc-container-runtime: <stage> error: <message>``, to runc's ``--log`` file and to
the config's debug file; exit status 1.
"""

from __future__ import annotations

import os
import sys

from nvcontainer.runtime import args as argv_rules
from nvcontainer.runtime.logs import PROG, RuntimeLog

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)

if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple

    from nvcontainer.config.schema import Config

ALT_CONFIG_ENV = "NVIDIA_CTK_CONFIG_FILE_PATH"


def _load_config() -> Tuple[Config, str]:
    from nvcontainer.config.cached import load_config_cached
    from nvcontainer.config.location import config_path

    path, required = config_path()
    return load_config_cached(path, required=required), path


STATE_DIR_ENV = "NVC_STATE_DIR"  # nvcontainer.allocation's override of config.toml's nvcontainer.state-dir
SNAPSHOT_DIR_ENV = "NVC_SNAPSHOT_DIR"  # nvcontainer.snapshot's directory, or "off"


def hook_environment(config_file: str) -> Tuple[str, ...]:
    """The inserted hook's env: where to find the config this shim used, if it exists, and the
    allocation registry and driver snapshot overrides if this shim has them (docker gives the hook
    it adds for ``--gpus`` dockerd's whole environment: both hooks must meet in the same registry)."""
    env = [f"{ALT_CONFIG_ENV}={os.path.abspath(config_file)}"] if os.path.isfile(config_file) else []
    for name in (STATE_DIR_ENV, SNAPSHOT_DIR_ENV):  # the registry; the snapshot dir (or "off")
        override = os.environ.get(name)
        if override:
            env.append(f"{name}={override}")
    return tuple(env)


def modify_bundle(bundle: str, config: Config, config_file: str, log: RuntimeLog) -> bool:
    """Apply the mode's modifier to ``<bundle>/config.json``; True if the file was rewritten."""
    from nvcontainer.runtime import modifiers, specfile
    from nvcontainer.runtime.lookup import find_hook

    loaded = specfile.load_spec(bundle)
    runtime_config = config.nvidia_container_runtime
    devices = modifiers.requested(loaded.spec, config)
    modifier = modifiers.modifier_for(runtime_config.mode, devices, loaded.spec, config)
    ctx = modifiers.ModifyContext(config=config, hook_path=find_hook(config.nvidia_container_runtime_hook.path),
                                  hook_env=hook_environment(config_file))
    modified = modifier(loaded.spec, ctx)
    if modified is loaded.spec:
        return False
    specfile.write_spec(loaded.path, modified, loaded.layout)
    log.info(f"modified {loaded.path} for devices {','.join(devices or ())} (hook {ctx.hook_path})")
    return True


def run(args: Sequence[str]) -> Tuple[int, Optional[List[str]]]:
    """Everything but the exec: (status, argv to exec or None)."""
    from nvcontainer.errors import NvcError

    log = RuntimeLog(argv_rules.log_options(args))
    try:
        if argv_rules.wants_version(args):
            import nvcontainer

            print(f"{PROG} version {nvcontainer.__version__}", flush=True)  # before the exec
        create = argv_rules.has_create_subcommand(args)
        if create:
            config, config_file = _load_config()
            settings = config.nvidia_container_runtime
            runtimes, debug, level = settings.runtimes, settings.debug, settings.log_level
        else:  # pass-through: only the keys it needs
            from nvcontainer.config.location import config_path
            from nvcontainer.config.quick import runtime_settings

            quick = runtime_settings(*config_path())
            runtimes, debug, level = quick.runtimes, quick.debug, quick.log_level
        log = RuntimeLog(log.options, debug, level)
        from nvcontainer.runtime.lookup import find_runtime

        runtime = find_runtime(runtimes)
        if create:
            modify_bundle(argv_rules.bundle_dir(args), config, config_file, log)
        return 0, [runtime, *args]
    except NvcError as exc:
        log.error(exc.line(PROG), exc.message)
        return 1, None
    except Exception as exc:  # noqa: BLE001 - one line for docker/containerd, never a traceback
        log.error(f"{PROG}: internal error: {exc}", f"internal error: {exc}")
        return 1, None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv[1:])
    status, command = run(args)
    if command is None:
        return status
    try:
        os.execv(command[0], command)
    except OSError as exc:
        RuntimeLog(argv_rules.log_options(args)).error(f"{PROG}: runtime error: exec failed: {exc}",
                                                       f"exec failed: {exc}")
    return 1
