"""The sscanf/strtoumax emulation in selection.py checked against this machine's glibc."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nvcontainer.policy import selection

# The project's machines (and CI) are glibc systems: the real sscanf/strtoumax are the oracle.
libc: Any = ctypes.CDLL("libc.so.6")

tokens = st.text(alphabet="0123456789abcdefABCDEFxX:.+- \t", max_size=20)


def glibc_bus_id(token: str):
    a, b, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    n = libc.sscanf(token.encode(), b"%x:%02x:%02x.0", ctypes.byref(a), ctypes.byref(b), ctypes.byref(c))
    if n != 3:
        return None
    buf = ctypes.create_string_buffer(33)
    libc.snprintf(buf, 33, b"%08x:%02x:%02x.0", a, b, c)
    return buf.value.decode()


def glibc_mig_pair(token: str):
    i, j = ctypes.c_ulong(), ctypes.c_ulong()
    n = libc.sscanf(token.encode(), b"%lu:%lu", ctypes.byref(i), ctypes.byref(j))
    return (i.value, j.value) if n == 2 else None


def glibc_index(token: str):
    libc.strtoumax.restype = ctypes.c_uint64
    libc.strtoumax.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
    raw = token.encode()
    end = ctypes.c_char_p()
    value = libc.strtoumax(raw, ctypes.byref(end), 10)
    start = ctypes.cast(ctypes.c_char_p(raw), ctypes.c_void_p).value or 0
    stop = ctypes.cast(end, ctypes.c_void_p).value or 0
    return value, stop - start


@settings(max_examples=500, database=None)
@given(tokens)
def test_bus_id_matches_glibc(token):
    assert selection.normalize_bus_id(token) == glibc_bus_id(token)


@pytest.mark.parametrize("token", ["99999999999999999999:7:0", "-0x10:7:0", "0x:7:0", "+:7:0", "0:+7:0"])
def test_bus_id_edge_cases_match_glibc(token):
    assert selection.normalize_bus_id(token) == glibc_bus_id(token)


@settings(max_examples=500, database=None)
@given(st.text(alphabet="0123456789:+- \tx", max_size=24))
def test_mig_pair_matches_glibc(token):
    values = selection._scan(token, ((10, None), (10, None)))
    assert (tuple(values) if len(values) == 2 else None) == glibc_mig_pair(token)


@settings(max_examples=300, database=None)
@given(st.one_of(st.text(alphabet="0123456789+- \t", max_size=24), st.integers(-(2**70), 2**70).map(str)))
def test_index_matches_glibc(token):
    assume(token)  # empty tokens are skipped before any parsing
    value, consumed = glibc_index(token)
    expected = value if consumed == len(token.encode()) and value != 2**64 - 1 else None
    assert selection._parse_index(token) == expected
