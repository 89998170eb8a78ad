"""The shim's own failures (stage ``runtime``), in the one ``NvcError`` hierarchy."""

from __future__ import annotations

from nvcontainer.errors import NvcError


class ShimError(NvcError):
    stage = "runtime"
