"""Consent use cases: record a signed grant, withdraw it (signed), verify a token.

Each grant or withdrawal is stored in ``consents`` and appended to the outbox ``consent`` lane in
the same transaction (the event carries the token and the pseudonym, never the email). Tokens
are signed with the hub register's Ed25519 journal key, whose public half is already in the
``keys`` table the cloud and auditors receive, so any of them can verify a token offline.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from microhub.domain.journal import format_time
from microhub.errors import NotFound, SigningError, ValidationError
from microhub.services import vault as vault_service
from microhub.services.context import Hub
from microhub.store import journal as journal_store
from microhub.vault import consent as rules
from microhub.vault import people

__all__ = ["record_consent", "verify_consent", "withdraw_consent"]


def _private_pem(hub: Hub) -> bytes:
    path = hub.settings.key_dir / f"{hub.settings.signing_key}.pem"
    try:
        return path.read_bytes()
    except OSError:
        raise SigningError(
            f"signing key {hub.settings.signing_key} cannot be read",
            details={"key_id": hub.settings.signing_key},
        ) from None


def _store(
    hub: Hub,
    conn: sqlite3.Connection,
    *,
    person_id: str,
    purpose: str,
    kind: str,
    at: int,
    receipt_id: str,
    token: str,
    claims: dict[str, Any],
) -> None:
    conn.execute(
        "INSERT INTO consents (receipt_id, person_id, purpose, kind, at, token, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (receipt_id, person_id, purpose, kind, at, token, format_time(hub.clock.now())),
    )
    vault_service._event(
        hub,
        conn,
        lane="consent",
        event_type="consent.granted" if kind == "grant" else "consent.withdrawn",
        payload={
            "consentReceiptID": receipt_id,
            "piiPrincipalId": claims["piiPrincipalId"],
            "purpose": purpose,
            "consentTimestamp": at,
            "token": token,
        },
    )


def _services(purpose: str, consent_type: str) -> list[dict[str, Any]]:
    return [
        {
            "service": "microhub point of sale",
            "purposes": [
                {
                    "purpose": purpose,
                    "purposeCategory": [rules.PURPOSES[purpose]],
                    "consentType": consent_type,
                    "piiCategory": ["email"],
                    "primaryPurpose": True,
                    "termination": "on withdrawal",
                    "thirdPartyDisclosure": False,
                }
            ],
        }
    ]


def _base_claims(
    hub: Hub,
    *,
    at: int,
    receipt_id: str,
    pseudonym: str,
    jurisdiction: str,
    collection_method: str,
    policy_url: str,
    language: str,
) -> dict[str, Any]:
    return {
        "version": rules.KANTARA_VERSION,
        "jurisdiction": jurisdiction,
        "consentTimestamp": at,
        "collectionMethod": collection_method,
        "consentReceiptID": receipt_id,
        "language": language,
        "piiPrincipalId": pseudonym,
        "piiControllers": [{"piiController": hub.settings.hub_name, "hubId": hub.settings.hub_id}],
        "policyUrl": policy_url,
        "sensitive": False,
        "spiCat": [],
    }


def record_consent(
    hub: Hub,
    *,
    email: str,
    purpose: str,
    notice_text: str | None = None,
    policy_url: str = "",
    collection_method: str = "point of sale, in person",
    jurisdiction: str = "EU",
    language: str = "en",
    name: str | None = None,
    phone: str | None = None,
    passphrase: str | None = None,
) -> dict[str, Any]:
    """Store the person (encrypted) and a signed consent grant; returns the token and ids."""
    rules.check_purpose(purpose)
    people.normalise_email(email)
    notice = notice_text if notice_text is not None else rules.NOTICES[purpose]
    if not notice.strip():
        raise ValidationError("the notice text is empty", field="notice", value="")
    pem = _private_pem(hub)
    key = vault_service.hub_key(hub, passphrase=passphrase)
    at = int(hub.clock.now().timestamp())
    receipt_id = hub.new_event_id()
    with hub.db.write() as conn:
        person_id, pseudonym = vault_service.upsert_person(
            hub, conn, key, email=email, name=name, phone=phone
        )
        claims = _base_claims(
            hub,
            at=at,
            receipt_id=receipt_id,
            pseudonym=pseudonym,
            jurisdiction=jurisdiction,
            collection_method=collection_method,
            policy_url=policy_url,
            language=language,
        )
        claims |= {
            "event": "consent.granted",
            "services": _services(purpose, "EXPLICIT"),
            "noticeHash": rules.notice_hash(notice),
        }
        token = rules.sign_token(claims, private_pem=pem, key_id=hub.settings.signing_key)
        _store(
            hub,
            conn,
            person_id=person_id,
            purpose=purpose,
            kind="grant",
            at=at,
            receipt_id=receipt_id,
            token=token,
            claims=claims,
        )
    return {
        "token": token,
        "consentReceiptID": receipt_id,
        "piiPrincipalId": pseudonym,
        "purpose": purpose,
        "noticeHash": claims["noticeHash"],
        "consentTimestamp": at,
    }


def withdraw_consent(
    hub: Hub, *, email: str, purpose: str, passphrase: str | None = None
) -> dict[str, Any]:
    """Record a signed withdrawal for ``purpose``; it wins over any grant at the same second."""
    rules.check_purpose(purpose)
    people.normalise_email(email)
    pem = _private_pem(hub)
    key = vault_service.hub_key(hub, passphrase=passphrase)
    at = int(hub.clock.now().timestamp())
    receipt_id = hub.new_event_id()
    with hub.db.write() as conn:
        person_id = people.find_person(conn, key, email=email)
        if person_id is None:
            raise NotFound(
                "no consent from that email is stored here",
                code="unknown_person",
                details={"field": "email"},
            )
        grant = vault_service.consent_in_force(conn, person_id, purpose)
        pseudonym = conn.execute(
            "SELECT pseudonym FROM people WHERE person_id = ?", (person_id,)
        ).fetchone()[0]
        claims = _base_claims(
            hub,
            at=at,
            receipt_id=receipt_id,
            pseudonym=pseudonym,
            jurisdiction="EU",
            collection_method="withdrawal",
            policy_url="",
            language="en",
        )
        claims |= {
            "event": "consent.withdrawn",
            "services": _services(purpose, "WITHDRAWN"),
            "withdraws": grant.receipt_id if grant else None,
        }
        token = rules.sign_token(claims, private_pem=pem, key_id=hub.settings.signing_key)
        _store(
            hub,
            conn,
            person_id=person_id,
            purpose=purpose,
            kind="withdraw",
            at=at,
            receipt_id=receipt_id,
            token=token,
            claims=claims,
        )
    return {
        "token": token,
        "consentReceiptID": receipt_id,
        "piiPrincipalId": pseudonym,
        "purpose": purpose,
        "withdraws": claims["withdraws"],
        "consentTimestamp": at,
    }


def verify_consent(hub: Hub, *, token: str) -> dict[str, Any]:
    """Check ``token``'s signature against this hub's keys and say whether it is in force."""
    header, _ = rules.unverified_claims(token)
    conn = hub.db.connection
    keys = journal_store.keys_for(conn)
    public = keys.get(str(header.get("kid", "")))
    if public is None or public.alg != "ed25519":
        raise ValidationError(
            "the consent token was not signed by a key of this hub",
            field="token",
            value=None,
            code="bad_consent_token",
        )
    claims = rules.verify_token(token, public_raw=public.raw)
    purposes = [p["purpose"] for s in claims.get("services", []) for p in s.get("purposes", [])]
    row = conn.execute(
        "SELECT person_id, kind FROM consents WHERE receipt_id = ?", (claims["consentReceiptID"],)
    ).fetchone()
    in_force = False
    if row is not None and row[1] == "grant" and purposes:
        grant = vault_service.consent_in_force(conn, row[0], purposes[0])
        in_force = grant is not None and grant.receipt_id == claims["consentReceiptID"]
    return {
        "valid": True,
        "event": claims["event"],
        "consentReceiptID": claims["consentReceiptID"],
        "piiPrincipalId": claims["piiPrincipalId"],
        "purposes": purposes,
        "consentTimestamp": claims["consentTimestamp"],
        "noticeHash": claims.get("noticeHash"),
        "known": row is not None,
        "in_force": in_force,
        "key_id": header.get("kid"),
    }
