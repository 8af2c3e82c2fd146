"""Consent receipts as signed tokens (JWS compact, EdDSA over Ed25519).

Why ``joserfc``: it is typed (``py.typed``), maintained by the Authlib author, requires the caller
to name the accepted algorithms on every decode (no ``alg: none`` or key-confusion surprises), and
supports RFC 9864's fully-specified ``"Ed25519"`` algorithm name. That is what we sign with: EdDSA
over Ed25519, under the name RFC 9864 recommends now that the polymorphic ``"EdDSA"`` is
deprecated (joserfc warns on it).

A grant's payload uses the Kantara Initiative Consent Receipt v1.1 field names (``version``,
``jurisdiction``, ``consentTimestamp``, ``collectionMethod``, ``consentReceiptID``,
``publicKey``, ``language``, ``piiPrincipalId``, ``piiControllers``, ``policyUrl``, ``services``
with ``purposes``, ``sensitive``, ``spiCat``) plus ``noticeHash`` — ``sha256:`` and the hex digest
of the notice text the person saw — and ``event``: ``consent.granted``. ``piiPrincipalId`` is a
random pseudonym (``urn:microhub:person:<uuid>``), never the email.

A withdrawal is a token of the same shape with ``event``: ``consent.withdrawn`` and
``withdraws``: the receipt id it withdraws (or ``null`` for "every grant for this purpose").
The state of a (person, purpose) is decided by :func:`decide`: the latest event by
``consentTimestamp`` wins, and a withdrawal wins a tie.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from microhub.errors import ValidationError

__all__ = [
    "ALG",
    "KANTARA_VERSION",
    "NOTICES",
    "PURPOSES",
    "ConsentEvent",
    "decide",
    "notice_hash",
    "sign_token",
    "unverified_claims",
    "verify_token",
]

ALG = "Ed25519"
KANTARA_VERSION = "KI-CR-v1.1.0"

PURPOSES = {
    "email_receipt": "Send the receipt of this purchase by email.",
    "marketing": "Send news about future drops and events by email.",
    "analytics": "Count this visit and basket, pseudonymously, to improve the stall.",
}

# The default notice text shown for each purpose (its SHA-256 goes into the token).
NOTICES = {
    purpose: f"{text} You can withdraw this consent at any time; ask at the stall."
    for purpose, text in PURPOSES.items()
}


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    receipt_id: str
    purpose: str
    kind: str  # "grant" | "withdraw"
    at: int  # consentTimestamp, seconds since the epoch


def check_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise ValidationError(
            f"unknown purpose {purpose!r}; expected one of {', '.join(sorted(PURPOSES))}",
            field="purpose",
            value=purpose,
            code="unknown_purpose",
        )
    return purpose


def notice_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def decide(events: Iterable[ConsentEvent], *, purpose: str) -> ConsentEvent | None:
    """The grant in force for ``purpose``, or ``None``. Latest wins; a withdrawal wins ties."""
    latest: ConsentEvent | None = None
    for event in events:
        if event.purpose != purpose:
            continue
        if (
            latest is None
            or event.at > latest.at
            or (event.at == latest.at and event.kind == "withdraw")
        ):
            latest = event
    return latest if latest is not None and latest.kind == "grant" else None


def _private(pem: bytes) -> OKPKey:
    return OKPKey.import_key(pem)


def sign_token(claims: Mapping[str, Any], *, private_pem: bytes, key_id: str) -> str:
    """A compact JWS (``alg: Ed25519``, ``typ: JWT``, ``kid``) over canonical-ish JSON claims."""
    payload = json.dumps(dict(claims), sort_keys=True, separators=(",", ":")).encode()
    header = {"alg": ALG, "typ": "JWT", "kid": key_id}
    return jws.serialize_compact(header, payload, _private(private_pem), algorithms=[ALG])


def _bad(message: str) -> ValidationError:
    return ValidationError(message, field="token", value=None, code="bad_consent_token")


def unverified_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of ``token`` *without* checking the signature (to find the key)."""
    try:
        obj = jws.extract_compact(token.strip().encode("ascii"))
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError):
        raise _bad("not a consent token (expected a compact JWS)") from None
    if not isinstance(claims, dict):
        raise _bad("the token's payload is not a JSON object")
    return dict(obj.protected), claims


def verify_token(token: str, *, public_raw: bytes) -> dict[str, Any]:
    """The claims of ``token`` if its Ed25519 signature is valid under ``public_raw``."""
    public = ed25519.Ed25519PublicKey.from_public_bytes(public_raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        obj = jws.deserialize_compact(
            token.strip().encode("ascii"), OKPKey.import_key(public), algorithms=[ALG]
        )
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError):
        raise _bad("the consent token's signature does not verify (tampered or not ours)") from None
    for name in ("version", "consentReceiptID", "piiPrincipalId", "consentTimestamp", "event"):
        if name not in claims:
            raise _bad(f"the consent token lacks {name!r}")
    return dict(claims)
