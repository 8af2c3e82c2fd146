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
