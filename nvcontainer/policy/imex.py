"""IMEX channel ids from ``--imex-channel`` values (comma lists, option repeatable)."""

from __future__ import annotations

from nvcontainer.bounds import decimal, shown
from nvcontainer.errors import ImexError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Sequence, Tuple, Union

IMEX_CHANNEL_LIMIT = 2**20  # the driver's channel id space: ids 0 .. 2**20-1


def parse_imex_channels(values: Union[str, Sequence[str], None]) -> Tuple[int, ...]:
    """Channel ids in the order given, duplicates dropped.

    Each item must be plain decimal digits below 2**20; anything else (signs, spaces, hex,
    ``all``) raises ``ImexError("unsupported IMEX channel value: <item>")``.  Empty items are
    skipped.
    """
    if values is None:
        return ()
    joined = values if isinstance(values, str) else ",".join(values)
    channels: Dict[int, None] = {}
    for item in joined.split(","):
        if not item:
            continue
        channel = decimal(item, 7)
        if channel is None or channel >= IMEX_CHANNEL_LIMIT:
            raise ImexError(f"unsupported IMEX channel value: {shown(item)}")
        channels[channel] = None
    return tuple(channels)
