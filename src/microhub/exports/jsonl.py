"""JSON Lines export: every record with its hash and signature, plus the public keys.

``journal.jsonl`` has one object per record in (series, seq) order::

    {"series": "HUB", "seq": 1, "hash": "...", "signature": "<base64>" | null, "record": {...}}

``keys.json`` lists every key as ``{"key_id", "alg", "public_key" (hex), "series"}``. With both,
anyone can re-verify the chain without microhub (see ``docs/journal.md``).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

__all__ = ["export_jsonl"]


def export_jsonl(conn: sqlite3.Connection, out: Path) -> int:
    """Write ``journal.jsonl`` and ``keys.json`` into ``out``; return the number of records."""
    keys = [
        {"key_id": r[0], "alg": r[1], "public_key": bytes(r[2]).hex(), "series": r[3]}
        for r in conn.execute("SELECT key_id, alg, public_key, series FROM keys ORDER BY created")
    ]
    (out / "keys.json").write_text(json.dumps(keys, indent=2) + "\n", encoding="utf-8")
    count = 0
    with open(out / "journal.jsonl", "w", encoding="utf-8") as handle:
        rows = conn.execute(
            "SELECT series, seq, hash, signature, body FROM journal ORDER BY series, seq, id"
        )
        for series, seq, digest, signature, body in rows:
            record = {
                "series": series,
                "seq": seq,
                "hash": digest,
                "signature": base64.b64encode(signature).decode() if signature else None,
                "record": json.loads(body),
            }
            handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count
