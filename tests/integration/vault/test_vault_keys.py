"""The hub key through the CLI: rotation re-wraps without re-encrypting, passphrase wrapping,
wrong passphrases, and keys never shown."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

from microhub.bootstrap import open_hub
from microhub.services import vault as vault_service

EMAIL = "erin.keys@example.org"
PASS = "market night 2026"


def _key_secret(hub_dir: Path) -> str:
    doc = json.loads((hub_dir / "keys" / "hub.key").read_text())
    return str(doc.get("key", ""))


def _sealed(hub_dir: Path) -> list[bytes]:
    conn = sqlite3.connect(hub_dir / "hub.sqlite")
    try:
        return [bytes(r[0]) for r in conn.execute("SELECT email FROM people")]
    finally:
        conn.close()


def test_init_creates_an_owner_only_hub_key(hub_dir: Path) -> None:
    """microhub init leaves keys/hub.key (0600) and the backup identity in the data folder."""
    assert (hub_dir / "keys" / "hub.key").stat().st_mode & 0o777 == 0o600
    assert (hub_dir / "keys" / "backup-identity.txt").stat().st_mode & 0o777 == 0o600


def test_rotate_rewraps_without_reencrypting(cli: Any, hub_dir: Path) -> None:
    """key rotate changes the key id, leaves the ciphertext untouched, and the person stays
    readable; the output never contains the key."""
    r = cli("consent", "record", "--data", str(hub_dir), "--email", EMAIL, "--purpose",
            "analytics", "--name", "Erin", "--json")  # fmt: skip
    assert r.exit_code == 0
    before_secret = _key_secret(hub_dir)
    before = _sealed(hub_dir)
    result = cli("key", "rotate", "--data", str(hub_dir), "--json")
    assert result.exit_code == 0, result.stdout
    body = result.json()
    assert body["rewrapped"] == 1 and body["key_id"] != body["old_key_id"]
    assert before_secret not in result.stdout
    assert _key_secret(hub_dir) not in result.stdout
    assert _sealed(hub_dir) == before
    hub = open_hub(hub_dir)
    try:
        person = vault_service.lookup_person(hub, email=EMAIL)
        assert person is not None and person.name == "Erin"
    finally:
        hub.close()


def test_passphrase_protection_and_wrong_passphrase(cli: Any, hub_dir: Path) -> None:
    """Rotating to a passphrase removes the key from the file; the right passphrase works, a
    wrong one exits 2 with wrong_passphrase, and neither is printed."""
    data = ["--data", str(hub_dir), "--json"]
    cli("consent", "record", *data, "--email", EMAIL, "--purpose", "analytics")
    result = cli("key", "rotate", *data, "--protect", "passphrase",
                 env={"MICROHUB_VAULT_NEW_PASSPHRASE": PASS})  # fmt: skip
    assert result.exit_code == 0, result.stdout
    doc = json.loads((hub_dir / "keys" / "hub.key").read_text())
    assert doc["wrap"] == "argon2id" and "key" not in doc
    assert doc["kdf"]["m"] == 65536 and doc["kdf"]["t"] == 3

    wrong = cli("consent", "record", *data, "--email", EMAIL, "--purpose", "marketing",
                env={"MICROHUB_VAULT_PASSPHRASE": "not the passphrase"})  # fmt: skip
    assert wrong.exit_code == 2
    assert wrong.json()["error"]["code"] == "wrong_passphrase"
    assert "not the passphrase" not in wrong.stdout and PASS not in wrong.stdout

    right = cli("consent", "record", *data, "--email", EMAIL, "--purpose", "marketing",
                env={"MICROHUB_VAULT_PASSPHRASE": PASS})  # fmt: skip
    assert right.exit_code == 0

    missing = cli("forget", *data, "--email", EMAIL, env={})
    assert missing.exit_code == 3
    assert missing.json()["error"]["code"] == "passphrase_required"

    # forget keeps the passphrase wrapping; rotating back to a key file works too.
    gone = cli("forget", *data, "--email", EMAIL, env={"MICROHUB_VAULT_PASSPHRASE": PASS})
    assert gone.exit_code == 0, gone.stdout
    assert json.loads((hub_dir / "keys" / "hub.key").read_text())["wrap"] == "argon2id"
    back = cli("key", "rotate", *data, "--protect", "file",
               env={"MICROHUB_VAULT_PASSPHRASE": PASS})  # fmt: skip
    assert back.exit_code == 0
    assert json.loads((hub_dir / "keys" / "hub.key").read_text())["wrap"] == "file"
    secret = base64.b64decode(json.loads((hub_dir / "keys" / "hub.key").read_text())["key"])
    assert len(secret) == 32


def test_a_replaced_key_file_is_detected(cli: Any, hub_dir: Path, tmp_path: Path) -> None:
    """A hub.key from another hub is refused (exit 3, hub_key_mismatch), never used silently."""
    cli("consent", "record", "--data", str(hub_dir), "--email", EMAIL, "--purpose", "analytics")
    other = tmp_path / "other"
    assert cli("init", "--data", str(other)).exit_code == 0
    (hub_dir / "keys" / "hub.key").write_bytes((other / "keys" / "hub.key").read_bytes())
    vault_service._UNLOCKED.clear()
    result = cli("forget", "--data", str(hub_dir), "--email", EMAIL, "--json")
    assert result.exit_code == 3
    assert result.json()["error"]["code"] == "hub_key_mismatch"
