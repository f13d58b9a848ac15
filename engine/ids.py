"""Identifiers: a readable prefix plus a time-ordered random part (``task_01J...``)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A sortable, collision-resistant id such as ``task_01jd8x2k3m7q9r5t8v1w3y``.

    48 bits of milliseconds then 80 random bits, as in ULID, so ids sort by creation time.
    """
    millis = int(time.time() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_b32(millis, 10)}{_b32(rand, 16)}"
