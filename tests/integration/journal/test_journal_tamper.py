"""`microhub verify` finds each kind of tampering in a real hub database file.

Each test sells through the real services, then changes the SQLite file the way an attacker (or a
bug) would — with the append-only triggers dropped — and runs the real `verify` command.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from microhub.bootstrap import open_hub
from microhub.domain.canonical import canonical, sha256_hex
from microhub.domain.journal import Head, Totals, build, summary
from microhub.services import sales
from microhub.store import journal as journal_store


def _sell(hub_dir: Path, n: int) -> None:
    hub = open_hub(hub_dir)
    try:
        for i in range(n):
            sales.sell(
                hub,
                items=[sales.ItemRequest("COFFEE", 1 + i % 3)],
                payments=[sales.PaymentRequest("cash")],
            )
    finally:
        hub.close()


def _db(hub_dir: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(hub_dir / "hub.sqlite", isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS journal_no_update")
    conn.execute("DROP TRIGGER IF EXISTS journal_no_delete")
    return conn


def _findings(cli: Any, hub_dir: Path) -> list[tuple[int, str]]:
    result = cli("verify", "--data", str(hub_dir), "--json")
    report = result.json()
    assert result.exit_code == (0 if report["ok"] else 1)
    return [(f["seq"], f["kind"]) for f in report["findings"]]


def _row(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    cur = conn.execute("SELECT * FROM journal WHERE series = 'HUB' AND seq = ?", (seq,))
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def _insert(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    row = {k: v for k, v in row.items() if k != "id"}
    conn.execute(
        f"INSERT INTO journal ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        tuple(row.values()),
    )


@pytest.fixture
def sold(hub_dir: Path) -> Path:
    """The demo hub with the start record and five sales (HUB-1 .. HUB-6)."""
    _sell(hub_dir, 5)
    return hub_dir


def test_intact_journal_verifies(cli: Any, sold: Path) -> None:
    """An untouched journal has no findings and exit code 0."""
    assert _findings(cli, sold) == []


def test_modified_record_is_found(cli: Any, sold: Path) -> None:
    """Changing an amount inside a stored record is reported as modified at that record."""
    conn = _db(sold)
    body = _row(conn, 3)["body"]
    conn.execute(
        "UPDATE journal SET body = ? WHERE series = 'HUB' AND seq = 3",
        (body.replace(b'"gross":', b'"gross":1', 1),),
    )
    assert _findings(cli, sold) == [(3, "modified")]


def test_modified_record_with_recomputed_hash_is_still_found(cli: Any, sold: Path) -> None:
    """Recomputing the stored hash after an edit does not hide it: the next record's link breaks."""
    conn = _db(sold)
    body = _row(conn, 3)["body"].replace(b'"qty":', b'"qty":9', 1)
    conn.execute(
        "UPDATE journal SET body = ?, hash = ? WHERE series = 'HUB' AND seq = 3",
        (body, sha256_hex(body)),
    )
    assert _findings(cli, sold) == [(3, "modified")]


def test_deleted_record_is_found(cli: Any, sold: Path) -> None:
    """Removing a record from the middle is reported as deleted at its number."""
    _db(sold).execute("DELETE FROM journal WHERE series = 'HUB' AND seq = 4")
    assert _findings(cli, sold) == [(4, "deleted")]


def test_inserted_record_is_found(cli: Any, sold: Path) -> None:
    """A second, different record claiming an existing number is reported as inserted."""
    conn = _db(sold)
    conn.execute("DROP INDEX journal_series_seq")
    row = _row(conn, 3)
    row["body"] = row["body"].replace(b'"gross":', b'"gross":2', 1)
    _insert(conn, row)
    assert _findings(cli, sold) == [(3, "inserted")]


def test_duplicated_record_is_found(cli: Any, sold: Path) -> None:
    """The same record stored twice is reported as a duplicate."""
    conn = _db(sold)
    conn.execute("DROP INDEX journal_series_seq")
    _insert(conn, _row(conn, 5))
    assert _findings(cli, sold) == [(5, "duplicate")]


def test_reordered_records_are_found(cli: Any, sold: Path) -> None:
    """Records stored out of sequence order are reported as reordered."""
    conn = _db(sold)
    conn.execute("DROP INDEX journal_series_seq")
    third, fourth = _row(conn, 3), _row(conn, 4)
    columns = [c for c in third if c != "id"]
    assignments = ", ".join(f"{c} = ?" for c in columns)
    for target, source in ((third, fourth), (fourth, third)):
        conn.execute(
            f"UPDATE journal SET {assignments} WHERE id = ?",
            (*(source[c] for c in columns), target["id"]),
        )
    assert _findings(cli, sold) == [(3, "reordered")]


def test_bad_signature_is_found(cli: Any, sold: Path) -> None:
    """An intact record carrying someone else's signature is reported as a bad signature."""
    conn = _db(sold)
    other = _row(conn, 2)["signature"]
    conn.execute("UPDATE journal SET signature = ? WHERE series = 'HUB' AND seq = 5", (other,))
    assert _findings(cli, sold) == [(5, "bad_signature")]


def test_gap_in_numbering_is_found(cli: Any, hub_dir: Path) -> None:
    """A register that skips a number (chain unbroken) is reported as a gap."""
    _sell(hub_dir, 2)
    _db(hub_dir).execute("UPDATE series SET head_seq = head_seq + 1 WHERE series = 'HUB'")
    _sell(hub_dir, 1)
    assert _findings(cli, hub_dir) == [(4, "gap")]


def _forge(hub_dir: Path, mutate: Any) -> None:
    """Append a record signed with the hub's real key but built wrongly (a buggy or dishonest
    register that holds its key)."""
    hub = open_hub(hub_dir)
    try:
        conn = hub.db.connection
        head = journal_store.head(conn, "HUB")
        body = build(head, record_type="sale", time=hub.clock.now(), currency="EUR").body
        body["gross"] = 500
        body["taxes"] = [{"rate_bp": 1900, "net": 420, "tax": 80, "gross": 500}]
        body["payments"] = [{"method": "cash", "amount": 500}]
        body["totals"] = head.totals.after("sale", 500).to_json()
        mutate(body, head)
        raw = canonical(body)
        digest = sha256_hex(raw)
        signature = hub.signer.sign(summary(body, digest).encode())
        with hub.db.write() as tx:
            tx.execute("DROP TRIGGER journal_no_update")
            tx.execute(
                "INSERT INTO journal (series, seq, type, time, hash, signature, body)"
                " VALUES ('HUB', ?, ?, ?, ?, ?, ?)",
                (body["seq"], body["type"], body["time"], digest, signature, raw),
            )
            tx.execute(
                "UPDATE series SET head_seq = ?, head_hash = ? WHERE series = 'HUB'",
                (body["seq"], digest),
            )
    finally:
        hub.close()


def test_totals_that_do_not_follow_are_found(cli: Any, sold: Path) -> None:
    """A signed record whose running grand total skips ahead is reported as a totals mismatch."""

    def inflate(body: dict[str, Any], head: Head) -> None:
        body["totals"]["grand"] += 1000

    _forge(sold, inflate)
    assert _findings(cli, sold) == [(7, "totals_mismatch")]


def test_payments_that_do_not_add_up_are_found(cli: Any, sold: Path) -> None:
    """A signed record whose payments differ from its gross is reported as a totals mismatch."""

    def underpay(body: dict[str, Any], head: Head) -> None:
        body["payments"] = [{"method": "cash", "amount": 400}]

    _forge(sold, underpay)
    assert _findings(cli, sold) == [(7, "totals_mismatch")]


def test_training_counted_in_totals_is_found(cli: Any, sold: Path) -> None:
    """A training record that moved the grand total is reported as training counted."""

    def as_training(body: dict[str, Any], head: Head) -> None:
        body["type"] = "training"
        counts = dict(head.totals.counts)
        counts["training"] = counts.get("training", 0) + 1
        body["totals"] = Totals(head.totals.grand + 500, head.totals.abs + 500, counts).to_json()

    _forge(sold, as_training)
    assert _findings(cli, sold) == [(7, "training_counted")]


def test_receipt_qr_payload_detects_alteration(cli: Any, sold: Path) -> None:
    """A receipt's QR payload verifies offline; changing its total makes it fail with exit 1."""
    conn = _db(sold)
    row = _row(conn, 4)
    import json

    body = json.loads(row["body"])
    payload = (
        summary(body, row["hash"])
        + "|"
        + base64.urlsafe_b64encode(row["signature"]).rstrip(b"=").decode()
    )
    good = cli("verify-receipt", payload, "--data", str(sold), "--json")
    assert good.exit_code == 0 and good.json()["receipt"] == "HUB-4"
    parts = payload.split("|")
    parts[7] = str(int(parts[7]) + 100)
    bad = cli("verify-receipt", "|".join(parts), "--data", str(sold), "--json")
    assert bad.exit_code == 1
    assert bad.json()["error"]["code"] == "bad_receipt_signature"
