"""Debug logging in nvidia-container-cli's format, to the file named by ``--debug``.

Line format: ``I1128 17:30:19.123456 4242 discovery.py:88] selecting /usr/lib/...`` (level
letter, month-day, time with microseconds, thread id, file:line).  The library logs through
``logging.getLogger("nvcontainer")``; nothing is written unless a front end attaches a file.

``logger`` is a stand-in with the ``logging.Logger`` methods the library calls.  It does not
import ``logging`` (some 5-15 ms on every container start): while nobody has imported that module,
nobody can have attached a handler, so a record would go nowhere and is dropped.  Once ``logging``
is imported (by ``attach_debug_file``, by a program using the library, ...), every record goes to
the real ``nvcontainer`` logger, with the caller's file and line.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

LOGGER_NAME = "nvcontainer"
HEADER = "\n-- WARNING, the following logs are for debugging purposes only --\n\n"

_DEBUG, _INFO, _WARNING, _ERROR = 10, 20, 30, 40  # logging's level numbers


def _real() -> logging.Logger | None:
    logging = sys.modules.get("logging")
    if logging is None:
        return None
    real = logging.getLogger(LOGGER_NAME)
    if not real.handlers:
        real.addHandler(logging.NullHandler())  # a library's logger: silent unless a front end attaches a file
    return real


class _Logger:
    """The methods of ``logging.Logger`` the library uses, forwarded only where they can be seen."""

    __slots__ = ()

    def _log(self, level: int, msg: str, args: tuple, **kwargs: Any) -> None:
        real = _real()
        if real is not None and real.isEnabledFor(level):
            real.log(level, msg, *args, stacklevel=3, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(_DEBUG, msg, args, **kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(_INFO, msg, args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(_WARNING, msg, args, **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(_ERROR, msg, args, **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._log(_ERROR, msg, args, exc_info=True, **kwargs)


logger = _Logger()


def _formatter() -> logging.Formatter:
    import logging
    import threading
    import time

    class OriginalFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            letter = {"WARNING": "W", "ERROR": "E", "CRITICAL": "E"}.get(record.levelname, "I")
            stamp = time.strftime("%m%d %H:%M:%S", time.localtime(record.created))
            micros = int((record.created % 1) * 1_000_000)
            return (f"{letter}{stamp}.{micros:06d} {threading.get_native_id()} "
                    f"{record.filename}:{record.lineno}] {record.getMessage()}")

    return OriginalFormatter()


def attach_debug_file(path: str) -> logging.Handler:
    """Append debug lines to ``path`` (opened like the original: append, unbuffered lines).

    Opened once, without blocking (a FIFO nobody reads is refused, ENXIO, instead of hanging the
    caller); ``OSError`` when it cannot be opened for writing (missing directory, a directory,
    /dev/tty without a terminal).
    """
    import logging
    import os

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    try:
        os.set_blocking(fd, True)
        stream = os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="backslashreplace")
    except BaseException:
        os.close(fd)
        raise
    stream.write(HEADER)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_formatter())
    real = _real()
    assert real is not None
    real.addHandler(handler)
    real.setLevel(logging.DEBUG)
    return handler
