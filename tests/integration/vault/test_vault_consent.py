"""Consent tokens through the CLI and the services: signed, verifiable, withdrawable, and
required before email receipts or analytics."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from microhub.bootstrap import open_hub
from microhub.errors import ValidationError
from microhub.services import consent as consent_service
from microhub.services import vault as vault_service
from microhub.services.context import Hub

EMAIL = "dana.consent@example.org"
KANTARA = (
    "version",
    "jurisdiction",
    "consentTimestamp",
    "collectionMethod",
    "consentReceiptID",
    "piiPrincipalId",
    "services",
    "policyUrl",
)


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_record_verify_withdraw_through_the_cli(cli: Any, hub_dir: Path, tmp_path: Path) -> None:
    """consent record issues an Ed25519 JWS with Kantara fields and the notice hash, verify
    accepts it, withdraw makes verify report it as no longer in force (exit 1)."""
    notice = tmp_path / "notice.txt"
    notice.write_text("We email your receipt. Withdraw any time.", encoding="utf-8")
    data = ["--data", str(hub_dir), "--json"]
    rec = cli("consent", "record", *data, "--email", EMAIL, "--purpose", "email_receipt",
              "--notice-file", str(notice), "--policy-url", "https://example.org/privacy")  # fmt: skip
    assert rec.exit_code == 0, rec.stdout
    token = rec.json()["token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "Ed25519"
    claims = _claims(token)
    for name in KANTARA:
        assert name in claims
    assert claims["piiPrincipalId"].startswith("urn:microhub:person:")
    assert EMAIL not in token and EMAIL not in rec.stdout
    import hashlib

    expected = hashlib.sha256(notice.read_bytes()).hexdigest()
    assert claims["noticeHash"] == f"sha256:{expected}"
    assert claims["services"][0]["purposes"][0]["purpose"] == "email_receipt"

    ok = cli("consent", "verify", *data, token)
    assert ok.exit_code == 0 and ok.json()["in_force"] is True

    gone = cli("consent", "withdraw", *data, "--email", EMAIL, "--purpose", "email_receipt")
    assert gone.exit_code == 0
    assert _claims(gone.json()["token"])["event"] == "consent.withdrawn"
    after = cli("consent", "verify", *data, token)
    assert after.exit_code == 1 and after.json()["in_force"] is False
    withdrawal = cli("consent", "verify", *data, gone.json()["token"])
    assert withdrawal.exit_code == 0 and withdrawal.json()["event"] == "consent.withdrawn"


def test_tampered_token_is_refused(cli: Any, hub_dir: Path) -> None:
    """A token whose payload was changed, or that is not a JWS, exits 2 with bad_consent_token."""
    data = ["--data", str(hub_dir), "--json"]
    token = cli("consent", "record", *data, "--email", EMAIL, "--purpose", "analytics").json()[
        "token"
    ]
    head, _payload, sig = token.split(".")
    claims = _claims(token)
    claims["services"][0]["purposes"][0]["purpose"] = "marketing"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    for bad in (f"{head}.{forged}.{sig}", "not-a-token", token[:-4] + "AAAA"):
        result = cli("consent", "verify", *data, bad)
        assert result.exit_code == 2
        assert result.json()["error"]["code"] == "bad_consent_token"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--email", "not-an-email", "--purpose", "analytics"], "bad_email"),
        (["--email", EMAIL, "--purpose", "spam"], None),
    ],
)
def test_bad_input_is_refused_without_echoing_the_email(
    cli: Any, hub_dir: Path, args: list[str], code: str | None
) -> None:
    """A malformed email or unknown purpose exits 2 and never prints the email."""
    result = cli("consent", "record", "--data", str(hub_dir), "--json", *args)
    assert result.exit_code == 2
    assert "not-an-email" not in result.stdout + result.stderr
    if code:
        assert result.json()["error"]["code"] == code
    hub = open_hub(hub_dir)
    try:
        assert hub.db.connection.execute("SELECT COUNT(*) FROM consents").fetchone()[0] == 0
    finally:
        hub.close()


def test_email_receipt_and_analytics_need_consent_for_that_purpose(hub: Hub) -> None:
    """Without a grant for the purpose (or after its withdrawal) the services refuse."""
    with pytest.raises(ValidationError) as none:
        vault_service.authorize_email_receipt(hub, email=EMAIL)
    assert none.value.code == "consent_required"
    consent_service.record_consent(hub, email=EMAIL, purpose="email_receipt")
    assert vault_service.authorize_email_receipt(hub, email=EMAIL).startswith("urn:")
    with pytest.raises(ValidationError):
        vault_service.record_analytics(hub, email=EMAIL, event="visit")
    consent_service.record_consent(hub, email=EMAIL, purpose="analytics")
    payload = vault_service.record_analytics(hub, email=EMAIL, event="visit")
    assert EMAIL not in json.dumps(payload)
    consent_service.withdraw_consent(hub, email=EMAIL, purpose="analytics")
    with pytest.raises(ValidationError) as withdrawn:
        vault_service.record_analytics(hub, email=EMAIL, event="visit")
    assert withdrawn.value.code == "consent_required"
    with pytest.raises(ValidationError) as unknown:
        vault_service.require_consent(hub, email=EMAIL, purpose="spam")
    assert unknown.value.code == "unknown_purpose"


def test_withdrawal_in_the_same_second_wins(hub_dir: Path) -> None:
    """A grant and a withdrawal with the same consentTimestamp: the withdrawal wins."""
    hub = open_hub(hub_dir, clock=FixedClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC)))
    try:
        consent_service.record_consent(hub, email=EMAIL, purpose="marketing")
        consent_service.withdraw_consent(hub, email=EMAIL, purpose="marketing")
        consent_service.record_consent(hub, email=EMAIL, purpose="marketing")
        with pytest.raises(ValidationError):
            vault_service.require_consent(hub, email=EMAIL, purpose="marketing")
    finally:
        hub.close()


def test_consent_events_go_to_the_consent_lane_without_the_email(hub: Hub) -> None:
    """Grants and withdrawals are outbox events in the consent lane carrying the token and the
    pseudonym, never the email."""
    consent_service.record_consent(hub, email=EMAIL, purpose="analytics")
    consent_service.withdraw_consent(hub, email=EMAIL, purpose="analytics")
    rows = hub.db.connection.execute(
        "SELECT type, payload FROM outbox WHERE lane = 'consent' ORDER BY hub_seq"
    ).fetchall()
    assert [r[0] for r in rows] == ["consent.granted", "consent.withdrawn"]
    for _, payload in rows:
        body = json.loads(payload)
        assert EMAIL.encode() not in bytes(payload)
        assert body["token"].count(".") == 2
        assert body["piiPrincipalId"].startswith("urn:microhub:person:")
