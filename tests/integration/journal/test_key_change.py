"""Signing keys rotate through the chain: a key-change record signed by the old key."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def test_rotation_is_chained_and_old_receipts_stay_valid(cli: Any, hub_dir: Path) -> None:
    """After `key rotate-signing`, new sales use the new key, old receipts still verify, and the
    journal verifies; a record later signed with the retired key is flagged."""
    d = ["--data", str(hub_dir), "--json"]
    before = cli("sell", "--item", "COFFEE", "--pay", "cash", *d).json()
    rotated = cli("key", "rotate-signing", *d)
    assert rotated.exit_code == 0, rotated.stdout
    new_key = rotated.json()["key_id"]
    after = cli("sell", "--item", "COFFEE", "--pay", "cash", *d).json()
    assert after["qr"].split("|")[8] == new_key
    assert before["qr"].split("|")[8] != new_key
    for receipt in (before, after):
        assert cli("verify-receipt", receipt["qr"], *d).exit_code == 0
    assert cli("verify", *d).json()["ok"] is True

    # A register that keeps signing with its retired key is caught.
    conn = sqlite3.connect(hub_dir / "hub.sqlite", isolation_level=None)
    old_key = before["qr"].split("|")[8]
    conn.execute("UPDATE series SET key_id = ? WHERE series = 'HUB'", (old_key,))
    conn.close()
    settings = hub_dir / "settings.toml"
    settings.write_text(settings.read_text().replace(new_key, old_key))
    late = cli("sell", "--item", "COFFEE", "--pay", "cash", *d).json()
    findings = cli("verify", *d).json()["findings"]
    assert [(f["seq"], f["kind"]) for f in findings] == [(late["seq"], "bad_signature")]


def test_rotation_refused_when_the_old_key_is_unusable(
    cli: Any, hub_dir: Path, tmp_path: Path
) -> None:
    """Without the current key the key change cannot be proven, so it is refused and nothing changes."""
    key = next((hub_dir / "keys").glob("*.pem"))
    key.rename(tmp_path / "away.pem")
    result = cli("key", "rotate-signing", "--data", str(hub_dir), "--json")
    assert result.exit_code == 2
    assert result.json()["error"]["code"] == "signing_failed"
    conn = sqlite3.connect(hub_dir / "hub.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 1
    conn.close()
