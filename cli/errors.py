"""The one place the front ends print an error: ``<prog>: <stage> error: <message>`` on stderr.

``report`` prints an ``NvcError`` (with the no-driver hint where it applies); ``report_unexpected``
turns any other exception, a bug, into one ``<prog>: internal error: ...`` line (its traceback
goes to the debug log, never to the terminal).  Used by typer's ``invoke`` and by the fast path.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from nvcontainer.errors import NvcError

PROG = "nvc-cli"


def no_driver_hint(exc: NvcError, prog: str = PROG) -> Optional[str]:
    from nvcontainer.errors import LibraryLoadError

    if not (isinstance(exc, LibraryLoadError) and "libnvidia-ml.so.1" in exc.message):
        return None
    option = "--root" if prog == PROG else "--driver-root"  # nvc-ctk's commands take the root as --driver-root
    return (f"{prog}: hint: no NVIDIA driver was found on this machine; point {option} at a driver root, "
            "e.g. one built by `python -m nvcontainer.simulate DIR`")


def report(exc: NvcError, prog: str = PROG) -> None:
    print(exc.line(prog), file=sys.stderr)
    hint = no_driver_hint(exc, prog)
    if hint:
        print(hint, file=sys.stderr)


def report_unexpected(exc: BaseException, prog: str = PROG) -> None:
    from nvcontainer.log import logger

    logger.exception("unexpected error")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(f"{prog}: internal error: {text}", file=sys.stderr)
