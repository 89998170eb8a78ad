"""``nvc-docker``: nvidia-docker2's wrapper — ``run``/``create`` get ``--runtime=nvidia``;
every other command goes to ``docker`` unchanged."""

from __future__ import annotations

import os
import shutil
import sys
from typing import List, Optional

RUNTIME = "nvidia"
GPU_COMMANDS = ("run", "create")
# docker's global options that take a value as the next argument
VALUE_OPTIONS = {"-H", "--host", "-c", "--context", "--config", "-l", "--log-level", "--tlscacert", "--tlscert",
                 "--tlskey"}


def rewrite(args: List[str]) -> List[str]:
    """Insert ``--runtime=nvidia`` right after ``run``/``create`` unless a runtime is given."""
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg.startswith("-"):  # docker's global options come before the command
            skip = arg in VALUE_OPTIONS
            continue
        if arg not in GPU_COMMANDS:
            return list(args)
        rest = args[i + 1:]
        if any(a == "--runtime" or a.startswith("--runtime=") for a in rest):
            return list(args)
        return [*args[:i + 1], f"--runtime={RUNTIME}", *rest]
    return list(args)


def main(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    docker = shutil.which("docker")
    if docker is None:
        print("nvc-docker: error: docker not found on PATH", file=sys.stderr)
        sys.exit(1)
    os.execv(docker, [docker, *rewrite(args)])


if __name__ == "__main__":
    main()
