"""``nvc-cdi-hook``: the createContainer hooks our CDI specs name (NVIDIA's ``nvidia-cdi-hook`` 1.20).

Usage (the OCI state on stdin, or ``--container-spec FILE``)::

    nvc-cdi-hook [--debug] [--quiet] HOOK [OPTIONS]
    nvc-cdi-hook HOOK --help

Hooks: ``create-symlinks --link TARGET::LINK``, ``update-ldcache --folder DIR [--ldconfig-path
PATH]``, ``enable-cuda-compat [--host-driver-version V] [--host-cuda-version V]
[--cuda-compat-container-root DIR]``, ``disable-device-node-modification``,
``update-application-profile``, ``chmod --mode MODE --path PATH``, the hidden ``noop``, and ours,
``mount-driver-proc --source DIR`` (a simulated driver's /proc files, ``procdriver``).

createContainer hooks run in the container's mount namespace, before ``pivot_root``: the rootfs
is ``root.path`` of ``<bundle>/config.json`` (relative to the bundle).  Every path inside it is
resolved with ``securepath`` (the image's symlinks never lead out), ldconfig runs in the sandbox
of ``nvcontainer.apply.ldconfig``, and nothing of the container is ever executed.

The hook's environment is what the spec's ``env`` says (``NVIDIA_CTK_DEBUG=false``), never the
container's (CVE-2025-23266); ``NVIDIA_CTK_DEBUG=true`` or ``--debug`` logs to stderr.  As in
nvidia-cdi-hook, an unknown hook (or none) is a warning and exit 0, so that newer specs keep
working with an older hook; an unknown option of a known hook is an error.  Errors are one line
``nvc-cdi-hook: <stage> error: <message>``, exit 1.
"""

from __future__ import annotations

import os
import sys

from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

PROG = "nvc-cdi-hook"


class Option(Record):
    name: str
    help: str
    many: bool = False  # repeatable (a string slice in nvidia-cdi-hook)
    default: str = ""
    hidden: bool = False


class Command(Record):
    name: str
    usage: str
    options: Tuple[Option, ...]
    hidden: bool = False


_SPEC = Option("container-spec", "The OCI container state to read; empty or '-': standard input.", hidden=True)

COMMANDS: Dict[str, Command] = {c.name: c for c in (
    Command("update-ldcache", "Update ldcache in a container by running ldconfig", (
        Option("folder", "A folder to add to /etc/ld.so.conf before updating the ld cache", many=True),
        Option("ldconfig-path", "The host's ldconfig program", default="/sbin/ldconfig"), _SPEC)),
    Command("create-symlinks", "A hook to create symlinks in the container.", (
        Option("link", "A link to create, as TARGET::LINK. An existing link or file there is replaced.", many=True),
        _SPEC)),
    Command("chmod", "Set the permissions of folders in the container by running chmod. The container root is "
            "prefixed to the specified paths.", (
                Option("path", "A path to apply the specified mode to", many=True),
                Option("mode", "The file mode (octal)"), _SPEC)),
    Command("enable-cuda-compat", "This hook ensures that the folder containing the CUDA compat libraries is added "
            "to the ldconfig search path if required.", (
                Option("host-driver-version", "The host driver version. If the CUDA compat libraries detected in the "
                       "container do not have a higher MAJOR version, the hook is a no-op."),
                Option("host-cuda-version", "The CUDA version supported by the host driver."),
                Option("cuda-compat-container-root", "The folder in which CUDA compat libraries are located in the "
                       "container", default="/usr/local/cuda/compat"), _SPEC)),
    Command("disable-device-node-modification", "Ensure that the /proc/driver/nvidia/params file present in the "
            "container does not allow device node modifications.", (_SPEC,)),
    Command("update-application-profile", "Updates driver settings through \"application profiles\". Currently, "
            "this hook sets EGLVisibleDGPUDevices to restrict EGL/Vulkan GPU visibility inside the container",
            (_SPEC,)),
    Command("mount-driver-proc", "(nvcontainer) Show a simulated driver's /proc/driver/nvidia directory at "
            "/proc/driver/nvidia in the container (read-only, on a tmpfs over /proc/driver).", (
                Option("source", "The driver root's /proc/driver/nvidia directory (a host path)"), _SPEC)),
    Command("noop", "The noop hook performs no actions and is only added to facilitate basic testing of the CLI",
            (), hidden=True),
)}


class Invocation(Record):
    command: str
    options: Tuple[Tuple[str, str], ...]  # (name, value) in order
    help: bool = False

    def values(self, name: str) -> List[str]:
        return [v for k, v in self.options if k == name]

    def value(self, name: str) -> str:
        found = self.values(name)
        if found:
            return found[-1]
        spec = next((o for o in COMMANDS[self.command].options if o.name == name), None)
        return spec.default if spec else ""


class _Usage(Exception):
    """A command line nvidia-cdi-hook rejects (an unknown option of a known hook)."""


def _flag(arg: str) -> Optional[Tuple[str, Optional[str]]]:
    """``--name[=value]`` or ``-name[=value]`` -> (name, value); None for a positional argument."""
    if not arg.startswith("-") or arg == "-":
        return None
    name, eq, value = arg.lstrip("-").partition("=")
    return name, (value if eq else None)


def parse_args(argv: Sequence[str]) -> Tuple[Dict[str, bool], Optional[str], List[str]]:
    """Global flags, the hook name (None: none given) and the hook's own arguments."""
    flags = {"debug": False, "quiet": False, "help": False, "version": False}
    rest = list(argv)
    while rest:
        parsed = _flag(rest[0])
        if parsed is None:
            return flags, rest[0], rest[1:]
        name, _ = parsed
        key = {"d": "debug", "h": "help", "v": "version"}.get(name, name)
        if key not in flags:
            return flags, None, rest  # an unknown global flag: as nvidia-cdi-hook, no hook
        flags[key] = True
        rest.pop(0)
    return flags, None, []


def parse_command(command: Command, args: Sequence[str]) -> Invocation:
    known = {o.name: o for o in command.options}
    options: List[Tuple[str, str]] = []
    rest = list(args)
    wants_help = False
    while rest:
        arg = rest.pop(0)
        parsed = _flag(arg)
        if parsed is None:
            continue  # positional arguments are ignored, as urfave/cli leaves them to the action
        name, value = parsed
        if name in ("h", "help"):
            wants_help = True
            continue
        if name not in known:
            raise _Usage(f"{command.name}: flag provided but not defined: -{name}")
        if value is None:
            if not rest:
                raise _Usage(f"{command.name}: flag needs an argument: -{name}")
            value = rest.pop(0)
        options.append((name, value))
    return Invocation(command.name, tuple(options), wants_help)


def command_help(command: Command) -> str:
    lines = ["NAME:", f"   {PROG} {command.name} - {command.usage}", "", "USAGE:",
             f"   {PROG} {command.name} [options]", ""]
    shown = [o for o in command.options if not o.hidden]
    lines.append("OPTIONS:")
    for o in shown:
        default = f' (default: "{o.default}")' if o.default else ""
        many = " [ --" + o.name + " value ]" if o.many else ""
        lines.append(f"   --{o.name} value{many}  {o.help}{default}")
    lines.append("   --help, -h  show help")
    return "\n".join(lines) + "\n"


def main_help() -> str:
    lines = ["NAME:", f"   {PROG} - Command to structure files for usage inside a container, called as hooks "
             "from a container runtime, defined in a CDI yaml file", "", "USAGE:",
             f"   {PROG} [global options] HOOK [options]", "", "COMMANDS:"]
    lines += [f"   {c.name}  {c.usage}" for c in COMMANDS.values() if not c.hidden]
    lines += ["", "GLOBAL OPTIONS:", "   --debug, -d  Enable debug-level logging (NVIDIA_CTK_DEBUG)",
              "   --quiet      Suppress all output except for errors; overrides --debug (NVIDIA_CTK_QUIET)",
              "   --help, -h   show help", "   --version, -v  print the version"]
    return "\n".join(lines) + "\n"


# --- the OCI state ----------------------------------------------------------------------------


def read_state(text: str) -> Dict[str, Any]:
    """The OCI state (at most ``MAX_STATE_BYTES``, nested at most ``MAX_JSON_DEPTH`` deep)."""
    from nvcontainer import jsondoc
    from nvcontainer.bounds import MAX_STATE_BYTES
    from nvcontainer.cdi.errors import CdiError

    state = jsondoc.loads(text, what="OCI state", error=CdiError, max_bytes=MAX_STATE_BYTES,
                          lead="failed to load container state: invalid OCI state", syntax="not JSON")
    if not isinstance(state, dict):
        raise CdiError("failed to load container state: invalid OCI state: not an object")
    return state


def load_state(inv: Invocation, stdin: Callable[[], str]) -> Dict[str, Any]:
    from nvcontainer.cdi.errors import CdiError

    source = inv.value("container-spec")
    if source in ("", "-"):
        return read_state(stdin())
    from nvcontainer.bounds import MAX_STATE_BYTES
    from nvcontainer.regularfile import read_regular

    try:
        return read_state(read_regular(source, MAX_STATE_BYTES).decode("utf-8", "replace"))
    except OSError as exc:
        raise CdiError(f"failed to load container state: {source}: {(exc.strerror or str(exc)).lower()}") from None


def container_root(state: Dict[str, Any]) -> str:
    """The container's rootfs: ``root.path`` of ``<bundle>/config.json``, made absolute."""
    from nvcontainer.cdi.errors import CdiError

    bundle = state.get("bundle")
    if not isinstance(bundle, str) or not bundle:
        raise CdiError("invalid OCI state: no bundle")
    from nvcontainer import jsondoc
    from nvcontainer.bounds import MAX_SPEC_BYTES
    from nvcontainer.regularfile import read_regular

    config_path = os.path.join(bundle, "config.json")
    try:
        data = read_regular(config_path, MAX_SPEC_BYTES)
    except OSError as exc:
        raise CdiError(f"cannot read {config_path}: {(exc.strerror or str(exc)).lower()}") from None
    config = jsondoc.loads(data, what=config_path, error=CdiError, lead=f"cannot read {config_path}")
    root_table = config.get("root") if isinstance(config, dict) else None
    root = root_table.get("path") if isinstance(root_table, dict) else None
    if not isinstance(root, str) or not root:
        raise CdiError(f"{config_path}: no root.path")
    rootfs = os.path.normpath(os.path.join(bundle, root))
    # By identity, not by text: //, /proc/self/root or a link to / are the host's root as well.
    try:
        same = os.path.samestat(os.stat(rootfs), os.stat("/"))
    except OSError:
        same = False
    if same:
        raise CdiError(f"{config_path}: the container root is /: refusing to change the host")
    return rootfs


# --- the hooks --------------------------------------------------------------------------------


def update_ldcache(rootfs: str, inv: Invocation) -> None:
    from nvcontainer.apply.ldconfig import HOST_PREFIX, default_host_ldconfig, run_ldconfig

    folders = inv.values("folder")
    if not folders:
        return
    given = inv.values("ldconfig-path")
    ldconfig = default_host_ldconfig()
    if given:  # always a host program: the image's own ldconfig is never run (CVE-2024-0136)
        ldconfig = given[-1] if given[-1].startswith(HOST_PREFIX) else HOST_PREFIX + given[-1]
    run_ldconfig(0, rootfs, folders, ldconfig=ldconfig, owner_uid=os.geteuid(), owner_gid=os.getegid())


def create_symlinks(rootfs: str, inv: Invocation) -> None:
    from nvcontainer.cdi.links import create_link, parse_link
    from nvcontainer.log import logger as log

    done = set()
    for value in inv.values("link"):
        if value in done:
            continue
        done.add(value)
        link = parse_link(value)
        log.info("link %s -> %s: %s", link.path, link.target, create_link(rootfs, link))


def chmod(rootfs: str, inv: Invocation) -> None:
    from nvcontainer.cdi.permissions import change_modes, parse_mode

    change_modes(rootfs, inv.values("path"), parse_mode(inv.value("mode")))


def enable_cuda_compat(rootfs: str, inv: Invocation) -> None:
    from nvcontainer.cdi.cudacompat import enable

    enable(rootfs, inv.value("host-driver-version"), inv.value("host-cuda-version"),
           inv.value("cuda-compat-container-root"))


def disable_device_node_modification(rootfs: str, inv: Invocation) -> None:
    from nvcontainer.cdi.nodemod import disable_modification

    disable_modification(rootfs)


def update_application_profile(rootfs: str, inv: Invocation) -> None:
    from nvcontainer.cdi.appprofile import update_profile

    update_profile(rootfs)


def mount_driver_proc(rootfs: str, inv: Invocation) -> None:
    from nvcontainer.cdi.procdriver import mount_driver_proc as mount

    mount(rootfs, inv.value("source"))


ACTIONS: Dict[str, Callable[[str, Invocation], None]] = {
    "update-ldcache": update_ldcache, "create-symlinks": create_symlinks, "chmod": chmod,
    "enable-cuda-compat": enable_cuda_compat, "disable-device-node-modification": disable_device_node_modification,
    "update-application-profile": update_application_profile, "mount-driver-proc": mount_driver_proc,
}


def _validate(inv: Invocation) -> None:
    """The checks nvidia-cdi-hook makes before reading the state."""
    from nvcontainer.cdi.errors import CdiError

    if inv.command == "chmod":
        from nvcontainer.cdi.permissions import parse_mode

        parse_mode(inv.value("mode"))
        if any(not p.strip() for p in inv.values("path")):
            raise CdiError("chmod: paths must not be empty")
    if inv.command == "update-ldcache" and not inv.value("ldconfig-path"):
        raise CdiError("update-ldcache: ldconfig-path must be specified")
    if inv.command == "mount-driver-proc" and not os.path.isabs(inv.value("source")):
        raise CdiError("mount-driver-proc: --source must be an absolute path")


def _needs_state(inv: Invocation) -> bool:
    if inv.command == "noop":
        return False
    if inv.command == "enable-cuda-compat":  # no version given: nothing to compare with
        return bool(inv.value("host-driver-version") or inv.value("host-cuda-version"))
    if inv.command == "disable-device-node-modification":
        from nvcontainer.cdi.nodemod import modified_params

        return modified_params() is not None
    return True


def run(argv: Sequence[str], stdin: Callable[[], str], out: Any = None) -> int:
    """The whole command line; the exit status.  ``stdin`` is only read when a hook needs the state."""
    from nvcontainer.cdi.errors import CdiError

    out = out or sys.stdout
    flags, name, rest = parse_args(argv)
    if flags["help"]:
        out.write(main_help())
        return 0
    if flags["version"]:
        import nvcontainer

        out.write(f"{PROG} version {nvcontainer.__version__}\n")
        return 0
    if name is None:
        print(f"{PROG}: warning: no CDI hook specified", file=sys.stderr)
        return 0
    command = COMMANDS.get(name)
    if command is None:
        print(f"{PROG}: warning: unsupported CDI hook: {name} (ignored)", file=sys.stderr)
        return 0
    try:
        inv = parse_command(command, rest)
    except _Usage as exc:
        raise CdiError(str(exc)) from None
    if inv.help:
        out.write(command_help(command))
        return 0
    _validate(inv)
    if not _needs_state(inv):
        return 0
    rootfs = container_root(load_state(inv, stdin))
    ACTIONS[inv.command](rootfs, inv)
    return 0


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "t", "true", "yes")


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    flags, _, _ = parse_args(args)
    debug = (flags["debug"] or _env_true("NVIDIA_CTK_DEBUG") or _env_true("NVIDIA_CDI_DEBUG")) and not (
        flags["quiet"] or _env_true("NVIDIA_CTK_QUIET"))
    if debug:
        import logging

        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format=f"{PROG}: %(message)s")
    from nvcontainer.errors import NvcError

    try:
        code = run(args, sys.stdin.read)
    except NvcError as exc:
        print(exc.line(PROG), file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a hook answers with one line, never a traceback
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{PROG}: internal error: {text}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code)


if __name__ == "__main__":
    main()
