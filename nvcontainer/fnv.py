"""64-bit FNV-1a: a short, stable name for a long key (snapshot files, allocation records).

Not a cryptographic hash: where two keys may share a name, the stored key is compared on read.
(hashlib would do as well, at the cost of its import on every container start.)"""

from __future__ import annotations

_OFFSET = 0xCBF29CE484222325
_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data: bytes) -> int:
    digest = _OFFSET
    for byte in data:
        digest = ((digest ^ byte) * _PRIME) & _MASK
    return digest
