"""``nvc-cdi-hook``: the createContainer hook our CDI specs name.

Usage (the OCI state on stdin)::

    nvc-cdi-hook update-ldcache --folder DIR [--folder DIR ...] [--ldconfig-path PATH]
    nvc-cdi-hook create-symlinks --link TARGET::LINK [--link ...]

createContainer hooks run in the container's mount namespace, before ``pivot_root``: the
rootfs is ``root.path`` of ``<bundle>/config.json`` (relative to the bundle), a path valid in
that namespace, and the state's ``pid`` may be in another PID namespace, so it is not used:
ldconfig runs in the sandbox of ``nvcontainer.apply.ldconfig`` entered from our own mount
namespace, and links are made by ``nvcontainer.cdi.links`` (never outside the rootfs).

The hook's environment is what the spec's ``env`` says (``NVIDIA_CTK_DEBUG=false``), never the
container's (CVE-2025-23266); ``NVIDIA_CTK_DEBUG=true`` logs to stderr.  As nvidia-cdi-hook,
an unknown subcommand or option is a warning and exit 0, so that newer specs keep working.
Errors are one line ``nvc-cdi-hook: <stage> error: <message>``, exit 1.
"""

from __future__ import annotations

import json
import os
import sys

from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

PROG = "nvc-cdi-hook"
SUBCOMMANDS = ("update-ldcache", "create-symlinks")


class Invocation(Record):
    command: str
    options: Tuple[Tuple[str, str], ...]  # (--name, value) in order
    unknown: Tuple[str, ...] = ()

    def values(self, name: str) -> List[str]:
        return [v for k, v in self.options if k == name]


_KNOWN = {"update-ldcache": ("--folder", "--ldconfig-path"), "create-symlinks": ("--link",)}


def parse_args(argv: Sequence[str]) -> Optional[Invocation]:
    """The subcommand and its ``--opt VALUE``/``--opt=VALUE`` pairs; None for an unknown subcommand."""
    if not argv or argv[0] not in SUBCOMMANDS:
        return None
    command, rest = argv[0], list(argv[1:])
    options: List[Tuple[str, str]] = []
    unknown: List[str] = []
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name not in _KNOWN[command]:
            unknown.append(arg)
            continue
        if not eq:
            if not rest:
                unknown.append(arg)
                continue
            value = rest.pop(0)
        options.append((name, value))
    return Invocation(command, tuple(options), tuple(unknown))


def read_state(text: str) -> Dict[str, Any]:
    from nvcontainer.cdi.errors import CdiError

    try:
        state = json.loads(text)
    except ValueError:
        raise CdiError("invalid OCI state on stdin: not JSON") from None
    if not isinstance(state, dict):
        raise CdiError("invalid OCI state on stdin: not an object")
    return state


def container_root(state: Dict[str, Any]) -> str:
    """The container's rootfs: ``root.path`` of ``<bundle>/config.json``, made absolute."""
    from nvcontainer.cdi.errors import CdiError

    bundle = state.get("bundle")
    if not isinstance(bundle, str) or not bundle:
        raise CdiError("invalid OCI state: no bundle")
    config_path = os.path.join(bundle, "config.json")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        raise CdiError(f"cannot read {config_path}: {exc}") from None
    root = (config.get("root") or {}).get("path") if isinstance(config, dict) else None
    if not isinstance(root, str) or not root:
        raise CdiError(f"{config_path}: no root.path")
    return os.path.normpath(os.path.join(bundle, root))


def update_ldcache(rootfs: str, inv: Invocation) -> None:
    from nvcontainer.apply.ldconfig import HOST_PREFIX, default_host_ldconfig, run_ldconfig

    folders = inv.values("--folder")
    if not folders:
        return
    given = inv.values("--ldconfig-path")
    ldconfig = default_host_ldconfig()
    if given:  # always a host program: the image's own ldconfig is never run (CVE-2024-0136)
        ldconfig = given[-1] if given[-1].startswith(HOST_PREFIX) else HOST_PREFIX + given[-1]
    run_ldconfig(0, rootfs, folders, ldconfig=ldconfig, owner_uid=os.geteuid(), owner_gid=os.getegid())


def create_symlinks(rootfs: str, inv: Invocation) -> None:

    from nvcontainer.cdi.links import create_link, parse_link
    from nvcontainer.log import logger as log
    for value in inv.values("--link"):
        link = parse_link(value)
        outcome = create_link(rootfs, link)
        log.info("link %s -> %s: %s", link.path, link.target, outcome)


def run(argv: Sequence[str], stdin_text: str) -> int:
    inv = parse_args(argv)
    if inv is None:
        print(f"{PROG}: warning: unknown hook {' '.join(argv[:1]) or '(none)'}: ignored", file=sys.stderr)
        return 0
    for arg in inv.unknown:
        print(f"{PROG}: warning: unknown option {arg!r} for {inv.command}: ignored", file=sys.stderr)
    rootfs = container_root(read_state(stdin_text))
    if inv.command == "update-ldcache":
        update_ldcache(rootfs, inv)
    else:
        create_symlinks(rootfs, inv)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("NVIDIA_CTK_DEBUG", "").lower() in ("1", "true", "yes"):
        import logging

        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=f"{PROG}: %(message)s")
    from nvcontainer.errors import NvcError

    try:
        code = run(args, sys.stdin.read() if args and args[0] in SUBCOMMANDS else "")
    except NvcError as exc:
        print(exc.line(PROG), file=sys.stderr)
        sys.exit(1)
    sys.exit(code)


if __name__ == "__main__":
    main()
