"""Shell wildcards (``*``, ``?``) on file names, as ``fnmatch.fnmatchcase`` matches them, without re.

``fnmatch`` compiles each pattern to a regular expression, and importing ``re`` (with ``enum``)
costs 5-9 ms of a ``cdi generate`` or a CDI hook start that takes 40.  The driver's file patterns
(``lib*.so.570.124.06``, ``libcuda.so.*.*``, ``pci-*-*``) need only ``*`` and ``?``; a pattern with
a ``[`` set is handed to ``fnmatch`` itself.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List


def match(name: str, pattern: str) -> bool:
    """Whether ``name`` matches ``pattern`` (``*`` any run, ``?`` any one character; case counts)."""
    if "[" in pattern:
        import fnmatch

        return fnmatch.fnmatchcase(name, pattern)
    n = p = 0
    star = -1  # where the last * was, and the name position it is matched up to
    resume = 0
    while n < len(name):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p, n
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == name[n]):
            n += 1
            p += 1
        elif star >= 0:  # let the last * take one more character
            resume += 1
            n, p = resume, star + 1
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def select(names: Iterable[str], pattern: str) -> List[str]:
    """The names matching ``pattern``, in their order (``fnmatch.filter``)."""
    return [name for name in names if match(name, pattern)]
