"""Debug logging in nvidia-container-cli's format, to the file named by ``--debug``.

Line format: ``I1128 17:30:19.123456 4242 discovery.py:88] selecting /usr/lib/...`` (level
letter, month-day, time with microseconds, thread id, file:line).  The library logs through
``logging.getLogger("nvcontainer")``; nothing is written unless a front end attaches a file.
"""

from __future__ import annotations

import logging
import threading
import time

LOGGER_NAME = "nvcontainer"
HEADER = "\n-- WARNING, the following logs are for debugging purposes only --\n\n"

logger = logging.getLogger(LOGGER_NAME)
logger.addHandler(logging.NullHandler())  # a library's logger: silent unless a front end attaches a file


class OriginalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        letter = {"WARNING": "W", "ERROR": "E", "CRITICAL": "E"}.get(record.levelname, "I")
        stamp = time.strftime("%m%d %H:%M:%S", time.localtime(record.created))
        micros = int((record.created % 1) * 1_000_000)
        return (f"{letter}{stamp}.{micros:06d} {threading.get_native_id()} "
                f"{record.filename}:{record.lineno}] {record.getMessage()}")


def attach_debug_file(path: str) -> logging.Handler:
    """Append debug lines to ``path`` (opened like the original: append, unbuffered lines)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(HEADER)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(OriginalFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler
