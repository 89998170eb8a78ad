"""IMEX channel id parsing."""

from __future__ import annotations

import pytest

from nvcontainer.errors import ImexError
from nvcontainer.policy.imex import parse_imex_channels


@pytest.mark.parametrize(
    "values, expected",
    [
        (None, ()),
        ("", ()),
        ("0", (0,)),
        ("0,1,2", (0, 1, 2)),
        ("2,,0,", (2, 0)),
        (["3", "1,2"], (3, 1, 2)),
        ("1,1,0,1", (1, 0)),
        ("007", (7,)),
        ("1048575", (1048575,)),
    ],
)
def test_parse(values, expected):
    assert parse_imex_channels(values) == expected


@pytest.mark.parametrize("value", ["1048576", "-1", "+1", " 1", "1 ", "0x1", "abc", "1.0", "all", "\u0661"])
def test_rejected(value):
    with pytest.raises(ImexError) as info:
        parse_imex_channels(f"0,{value},1")
    assert info.value.line() == f"nvc-cli: error parsing IMEX info: unsupported IMEX channel value: {value}"
