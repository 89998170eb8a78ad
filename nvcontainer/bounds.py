"""Bounds on hostile input, and the small parsers that keep them.

Everything ``configure`` and the hooks read may come from a tenant: the image's environment and
files, a runtime's OCI state and config.json, a command line built from them.  So every input has
a size limit, every number is ASCII decimal of bounded length (Python's ``int()`` takes ``²`` and
``٣`` for digits and refuses strings of more than 4300 digits with a ``ValueError``), and every
list is de-duplicated in linear time.  The limits are the constants below (``docs/security.md``
lists them).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Tuple, Type

    from nvcontainer.errors import NvcError

MAX_VALUE_LENGTH = 64 * 1024  # one NVIDIA_* variable, one --device/--require/... option value
MAX_LIST_ITEMS = 4096  # items of one device / channel / capability list, after de-duplication
MAX_DIGITS = 20  # decimal digits of any number (2**64 has 20)
MAX_STATE_BYTES = 1 << 20  # the OCI state a hook reads on stdin
MAX_SPEC_BYTES = 32 << 20  # a bundle's config.json
MAX_CONFIG_BYTES = 4 << 20  # config.toml, daemon.json and the like
MAX_JSON_DEPTH = 64  # nesting of arrays and objects in any JSON document we parse
PID_MAX = 1 << 22  # the kernel's PID_MAX_LIMIT: no pid is larger

_DIGITS = "0123456789"


def is_decimal(text: str, max_digits: int = MAX_DIGITS) -> bool:
    """Whether ``text`` is 1..``max_digits`` ASCII digits (``str.isdigit`` also takes ``²``)."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def decimal(text: str, max_digits: int = MAX_DIGITS) -> Optional[int]:
    """The value of ``text`` if ``is_decimal(text, max_digits)``, else None."""
    return int(text) if is_decimal(text, max_digits) else None


def leading_decimal(text: str, pos: int = 0, max_digits: int = MAX_DIGITS) -> Tuple[Optional[int], int]:
    """The ASCII digits of ``text`` starting at ``pos``: ``(value, end)``; value None when there
    are none or more than ``max_digits`` of them (``end`` is past all of them either way)."""
    end = pos
    n = len(text)
    while end < n and text[end] in _DIGITS:
        end += 1
    if end == pos or end - pos > max_digits:
        return None, end
    return int(text[pos:end]), end


def shown(text: str, limit: int = 64) -> str:
    """``text`` as an error message may quote it: one line (control characters as ``?``), at most
    ``limit`` characters (then ``...``)."""
    clipped = text if len(text) <= limit else text[:limit] + "..."
    return "".join("?" if ch < " " or ch == "\x7f" else ch for ch in clipped)


def check_length(value: str, what: str, error: Type[NvcError], limit: int = MAX_VALUE_LENGTH) -> str:
    """``value`` unchanged, or ``error`` naming ``what`` when it is longer than ``limit``."""
    if len(value) > limit:
        raise error(f"{what} is too long ({len(value)} characters, at most {limit})")
    return value


def unique(items: Iterable[str], what: str, error: Type[NvcError], limit: int = MAX_LIST_ITEMS) -> List[str]:
    """``items`` in their first-seen order without duplicates (linear); more than ``limit``
    distinct items is ``error`` naming ``what``."""
    seen = dict.fromkeys(items)
    if len(seen) > limit:
        raise error(f"too many {what} ({len(seen)}, at most {limit})")
    return list(seen)


def check_pid(pid: object, what: str, error: Type[NvcError]) -> int:
    """``pid`` if it is an int in 1..PID_MAX (bools are not pids), else ``error``."""
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= PID_MAX:
        shown = repr(pid) if not isinstance(pid, int) or pid.bit_length() < 200 else "a huge number"
        raise error(f"invalid {what} {shown}: not a process id")
    return pid
