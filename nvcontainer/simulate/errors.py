"""The one exception the driver simulator raises.

``SimulateError`` carries a single-line message; the ``nvc-simulate`` command prints it as
``nvc-simulate: error: <message>`` and exits 1.
"""

from __future__ import annotations


class SimulateError(Exception):
    """A topology, preset, layout or build step could not be honoured."""

    def __init__(self, message: str) -> None:
        message = message.splitlines()[0] if message else "unknown error"
        super().__init__(message)
        self.message = message
