"""``nvc-docker``: nvidia-docker2's wrapper around the docker client.

``run`` and ``create`` (also as ``container run``/``container create``) get ``--runtime=nvidia``
right after the command, unless the arguments already name a ``--runtime``; with ``NV_GPU`` set
(``NV_GPU="0 1"``) they also get ``-e NVIDIA_VISIBLE_DEVICES=0,1``.  ``version`` first prints our
version line.  Everything else goes to docker unchanged.  The client is ``$NV_DOCKER`` or
``docker``, found on PATH; we replace ourselves with it (exec), so its exit status is ours.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import List, Optional, Tuple

RUNTIME = "nvidia"
GPU_COMMANDS = ("run", "create")
# docker's global options that take a value as the next argument
VALUE_OPTIONS = frozenset({"-H", "--host", "-c", "--context", "--config", "-l", "--log-level", "--tlscacert",
                           "--tlscert", "--tlskey"})


def command_at(args: List[str]) -> Tuple[int, str]:
    """(index, name) of docker's command: the first argument that is neither a global option nor
    an option's value; ``container run`` counts as ``run``.  (-1, "") when there is none."""
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg == "--":
            break
        elif arg.startswith("-"):
            skip = arg in VALUE_OPTIONS
        elif arg == "container" and i + 1 < len(args) and args[i + 1] in GPU_COMMANDS:
            return i + 1, args[i + 1]
        else:
            return i, arg
    return -1, ""


def rewrite(args: List[str], nv_gpu: Optional[str] = None) -> List[str]:
    """``args`` with our options inserted right after ``run``/``create``."""
    at, command = command_at(args)
    if command not in GPU_COMMANDS:
        return list(args)
    rest = args[at + 1:]
    extra = []
    if not any(a == "--runtime" or a.startswith("--runtime=") for a in rest):
        extra.append(f"--runtime={RUNTIME}")
    if nv_gpu and nv_gpu.strip():
        extra += ["-e", "NVIDIA_VISIBLE_DEVICES=" + ",".join(nv_gpu.split())]
    return [*args[:at + 1], *extra, *rest]


def main(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    client = os.environ.get("NV_DOCKER") or "docker"
    docker = shutil.which(client)
    if docker is None:
        print(f"nvc-docker: error: {client} not found on PATH", file=sys.stderr)
        sys.exit(1)
    if command_at(args)[1] == "version":
        from nvcontainer import __version__

        print(f"NVIDIA Docker (nvc-docker): {__version__}", flush=True)
    try:
        os.execv(docker, [client, *rewrite(args, os.environ.get("NV_GPU"))])
    except OSError as exc:
        print(f"nvc-docker: error: cannot run {docker}: {os.strerror(exc.errno or 0).lower()}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
