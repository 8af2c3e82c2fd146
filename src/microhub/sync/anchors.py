"""Truncation check: the journal must still reach every head the cloud anchored.

A cloud anchor says "series S had record SEQ with hash H" and is signed by the cloud key the hub
pinned at ``join``. If the local journal now ends before SEQ, or holds another record at SEQ,
its newest records were cut off (or rewritten) after the cloud saw them.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3

from microhub.crypto.signing import check_signature
from microhub.domain.verify import Finding, PublicKey
from microhub.sync.wire import anchor_message

__all__ = ["truncation_findings"]


def truncation_findings(conn: sqlite3.Connection, *, hub_id: str) -> list[Finding]:
    """Findings of kind ``truncated`` for every anchored series whose tail is gone."""
    try:
        peer = conn.execute(
            "SELECT cloud_key_id, cloud_public_key FROM sync_peer WHERE id = 1"
        ).fetchone()
    except sqlite3.OperationalError:  # a database from before migration 4
        return []
    if peer is None:
        return []
    cloud = PublicKey(str(peer[0]), "ed25519", bytes(peer[1]))
    findings: list[Finding] = []
    for series, seq, digest, signature in conn.execute(
        "SELECT series, seq, hash, signature FROM sync_anchors ORDER BY series"
    ).fetchall():
        try:
            sig = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            sig = b""
        message = anchor_message(hub_id=hub_id, series=series, seq=int(seq), digest=digest)
        if not check_signature(cloud, message, sig):
            continue  # not a valid anchor: it proves nothing either way
        row = conn.execute("SELECT MAX(seq) FROM journal WHERE series = ?", (series,)).fetchone()
        head = int(row[0] or 0)
        held = conn.execute(
            "SELECT hash FROM journal WHERE series = ? AND seq = ?", (series, int(seq))
        ).fetchall()
        if head < int(seq):
            findings.append(
                Finding(
                    series,
                    head + 1,
                    "truncated",
                    f"the cloud anchored record {seq} but the journal ends at {head}",
                )
            )
        elif digest not in {h[0] for h in held}:
            findings.append(
                Finding(
                    series,
                    int(seq),
                    "truncated",
                    f"record {seq} differs from the one the cloud anchored",
                )
            )
    return findings
