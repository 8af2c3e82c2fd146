"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and the hashes built on it.

Journal records are hashed and signed over these bytes, so the same record always gives the same
hash on the hub, on a phone (the PWA implements the same scheme) and in an auditor's tool.

The reference implementation is the ``rfc8785`` package. For the values microhub itself writes
— objects with ASCII keys, strings, integers within ±(2**53 - 1), booleans, null and arrays —
RFC 8785 output is exactly what the standard library's C JSON encoder produces with sorted keys,
no whitespace and no ASCII escaping, so those take a fast path (about 10x faster; it matters at
the till). Anything else (floats, big integers, non-ASCII keys, lone surrogates) goes to
``rfc8785``. A property test checks that both paths give identical bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

__all__ = ["canonical", "sha256_hex"]

_MAX_SAFE = 2**53 - 1
_encode = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


def _simple(value: Any) -> bool:
    """True when ``value`` contains only types the fast path encodes exactly as RFC 8785."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_MAX_SAFE <= value <= _MAX_SAFE)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not _simple(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_simple(item) for item in value)
    return False


def canonical(value: Any) -> bytes:
    """RFC 8785 bytes for a JSON value."""
    if _simple(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let the reference implementation refuse it
    return bytes(rfc8785.dumps(value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
