"""Global options shared by every nvc-cli command (they precede the command, as in the original)."""

from __future__ import annotations

from typing import Optional

from nvcontainer.records import Record


class GlobalOptions(Record):
    root: str = "/"
    dev_root: Optional[str] = None
    ldcache: Optional[str] = None
    debug: Optional[str] = None
    user: Optional[str] = None
    load_kmods: bool = False
    no_pivot: bool = False
    no_create_imex_channels: bool = False
