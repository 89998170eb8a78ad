"""nvcontainer.wildcard matches as fnmatch.fnmatchcase does, on every name and pattern."""

from __future__ import annotations

import fnmatch

from hypothesis import given, settings
from hypothesis import strategies as st

from nvcontainer import wildcard

NAMES = st.text(alphabet="ab.so1*?-", max_size=12)
PATTERNS = st.text(alphabet="ab.so1*?-", max_size=8)


@settings(max_examples=5000, deadline=None, database=None)
@given(NAMES, PATTERNS)
def test_match_is_fnmatchcase(name: str, pattern: str) -> None:
    assert wildcard.match(name, pattern) == fnmatch.fnmatchcase(name, pattern), (name, pattern)


def test_the_drivers_patterns() -> None:
    names = ["libcuda.so", "libcuda.so.1", "libcuda.so.570.124.06", "libnvidia-ml.so.570.124.06", "lib.so.1",
             "pci-0000:0f:00.0-card", "pci-x", "gsp_ga10x.bin", "gsp.bin.bak", "[x]"]
    for pattern in ("libcuda.so.*.*", "lib*.so.570.124.06", "lib?*.so*", "pci-*-*", "gsp*.bin", "*.*.*", "*", "",
                    "[[]x]", "lib[c]uda.so*"):
        assert wildcard.select(names, pattern) == fnmatch.filter(names, pattern), pattern


def test_long_names_do_not_take_long() -> None:
    assert not wildcard.match("a" * 5000, "*a*a*a*a*b")
