"""Canonical JSON (RFC 8785, the JSON Canonicalization Scheme) and the hashes built on it.

Journal records are hashed and signed over these bytes, so the same record always gives the same
hash on the hub, on a phone (the PWA implements the same scheme) and in an auditor's tool.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

__all__ = ["canonical", "sha256_hex"]


def canonical(value: Any) -> bytes:
    """RFC 8785 bytes for a JSON value. Floats are refused: money is integer minor units."""
    return bytes(rfc8785.dumps(value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
