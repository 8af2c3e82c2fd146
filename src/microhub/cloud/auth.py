"""Who is calling: hubs by request signature (``sync/wire.py``), admins by bearer token.

Order of checks, cheapest and least stateful first: the header parses, the body matches its
``Content-Digest``, the key belongs to a joined hub, ``created`` is inside the window, the
signature verifies, and only then is the nonce remembered (so forged requests cannot fill the
nonce table). Failures raise ``ValidationError`` with a code the web layer maps to 401.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from microhub.cloud.store import CloudStore, HubRecord, Org
from microhub.crypto.signing import check_signature
from microhub.domain.verify import PublicKey
from microhub.errors import ValidationError
from microhub.sync.wire import (
    SIGNATURE_WINDOW_S,
    SignatureParams,
    content_digest,
    parse_signature,
    signature_base,
)

__all__ = ["AUTH_CODES", "authenticate_admin", "authenticate_hub", "check_signed", "token_hash"]

AUTH_CODES = frozenset(
    {
        "bad_signature_input",
        "bad_signature",
        "digest_mismatch",
        "unknown_key",
        "stale_signature",
        "replayed",
        "bad_admin_token",
    }
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_signed(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    key: PublicKey,
    now_s: int,
) -> SignatureParams:
    """Check digest, window and signature against ``key``; return the parameters."""
    params, signature = parse_signature(headers)
    digest = headers.get("content-digest", "")
    if not hmac.compare_digest(digest, content_digest(body)):
        raise ValidationError(
            "Content-Digest does not match the body",
            field="content-digest",
            value=None,
            code="digest_mismatch",
        )
    if params.key_id != key.key_id:
        raise ValidationError(
            "the signature names another key",
            field="keyid",
            value=params.key_id,
            code="unknown_key",
        )
    if abs(params.created - now_s) > SIGNATURE_WINDOW_S:
        raise ValidationError(
            f"signature created {params.created - now_s:+d} s from the cloud's clock",
            field="created",
            value=params.created,
            code="stale_signature",
            details={"server_time": now_s},
        )
    base = signature_base(method, path, digest, params)
    if not check_signature(key, base, signature):
        raise ValidationError(
            "the request signature does not verify",
            field="signature",
            value=None,
            code="bad_signature",
        )
    return params


def authenticate_hub(
    store: CloudStore,
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    now_s: int,
) -> tuple[HubRecord, SignatureParams]:
    params, _ = parse_signature(headers)
    hub = store.hub_by_key(key_id=params.key_id)
    if hub is None:
        raise ValidationError(
            "no joined hub has this key", field="keyid", value=params.key_id, code="unknown_key"
        )
    key = PublicKey(hub.key_id, "ed25519", hub.public_key)
    params = check_signed(
        method=method, path=path, headers=headers, body=body, key=key, now_s=now_s
    )
    if not store.remember_nonce(
        hub_id=hub.hub_id, nonce=params.nonce, now_s=now_s, keep_s=4 * SIGNATURE_WINDOW_S
    ):
        raise ValidationError(
            "this request was already received (replay)",
            field="nonce",
            value=params.nonce,
            code="replayed",
        )
    return hub, params


def authenticate_admin(store: CloudStore, *, authorization: str) -> Org:
    scheme, _, token = authorization.partition(" ")
    org = None
    if scheme.lower() == "bearer" and token:
        org = store.org_by_admin_token(token_hash=token_hash(token.strip()))
    if org is None:
        raise ValidationError(
            "a valid admin token is required (Authorization: Bearer ...)",
            field="authorization",
            value=None,
            code="bad_admin_token",
        )
    return org
