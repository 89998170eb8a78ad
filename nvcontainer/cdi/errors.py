"""The CDI error: one ``NvcError`` with stage ``cdi`` (``nvc-ctk: cdi error: <file>: <problem>``)."""

from __future__ import annotations

from nvcontainer.errors import NvcError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Sequence


class CdiError(NvcError):
    stage = "cdi"


class UnresolvableDevicesError(CdiError):
    """Qualified device names that no spec defines (the message podman and the CDI cache print)."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"unresolvable CDI devices {', '.join(names)}")
        self.names = list(names)
