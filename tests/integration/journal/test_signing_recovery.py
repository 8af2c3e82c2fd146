"""A signing failure never blocks a sale; a signed recovery record covers it once signing works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from microhub.bootstrap import open_hub
from microhub.services import sales


def _sell(hub_dir: Path) -> dict[str, Any]:
    hub = open_hub(hub_dir)
    try:
        return sales.sell(
            hub, items=[sales.ItemRequest("COFFEE")], payments=[sales.PaymentRequest("cash")]
        ).to_json()
    finally:
        hub.close()


def test_unreadable_key_chains_unsigned_then_recovers(
    cli: Any, hub_dir: Path, tmp_path: Path
) -> None:
    """With the key file gone, sales are still recorded (unsigned, flagged by verify); when the key
    is back, a signed recovery record names them and the journal verifies again."""
    key = next((hub_dir / "keys").glob("*.pem"))
    hidden = tmp_path / "elsewhere.pem"
    key.rename(hidden)

    first = _sell(hub_dir)
    second = _sell(hub_dir)
    assert (first["signed"], second["signed"]) == (False, False)
    assert first["qr"].endswith("|-")
    report = cli("verify", "--data", str(hub_dir), "--json")
    assert report.exit_code == 1
    assert [(f["seq"], f["kind"]) for f in report.json()["findings"]] == [
        (2, "unsigned"),
        (3, "unsigned"),
    ]
    unsigned = cli("verify-receipt", first["qr"], "--data", str(hub_dir), "--json")
    assert unsigned.exit_code == 2 and unsigned.json()["error"]["code"] == "unsigned_receipt"

    hidden.rename(key)
    third = _sell(hub_dir)
    assert third["signed"] is True and third["seq"] == 5
    listing = cli(
        "export",
        "--format",
        "jsonl",
        "--out",
        str(tmp_path / "x"),
        "--data",
        str(hub_dir),
        "--json",
    )
    assert listing.exit_code == 0
    lines = (tmp_path / "x" / "journal.jsonl").read_text().splitlines()
    import json

    recovery = json.loads(lines[3])["record"]
    assert recovery["type"] == "recovery"
    assert recovery["data"]["unsigned"] == [2, 3]
    assert cli("verify", "--data", str(hub_dir), "--json").json()["ok"] is True


def test_outbox_payload_is_the_canonical_event(hub_dir: Path) -> None:
    """Each journal record's outbox payload is exactly the canonical JSON of
    {hash, record, seq, series, signature}, one event per record, in order."""
    import base64
    import json
    import sqlite3

    from microhub.domain.canonical import canonical

    _sell(hub_dir)
    conn = sqlite3.connect(hub_dir / "hub.sqlite")
    rows = conn.execute(
        "SELECT o.payload, j.body, j.hash, j.signature, j.seq FROM outbox o "
        "JOIN journal j ON j.seq = json_extract(o.payload, '$.seq') ORDER BY o.hub_seq"
    )
    count = 0
    for payload, body, digest, signature, seq in rows:
        expected = canonical(
            {
                "hash": digest,
                "record": json.loads(body),
                "seq": seq,
                "series": "HUB",
                "signature": base64.b64encode(signature).decode(),
            }
        )
        assert bytes(payload) == expected
        count += 1
    conn.close()
    assert count == 2
