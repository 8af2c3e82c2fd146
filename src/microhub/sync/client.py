"""The signed HTTP client a hub uses to talk to its cloud (httpx, async).

Every request is signed with the hub's **transport key** (a separate Ed25519 key created at
``join``, kept in ``DATA/keys/`` like the journal key, so a signature over an HTTP request can
never be confused with a signature over a receipt). ``created`` is the hub clock plus the offset
learnt from the cloud's ``X-Server-Time``: a hub whose clock is hours off is told
``stale_signature``, adopts the offset, and retries once.

Errors: transport failures, timeouts and 5xx raise ``StorageError(retryable=True)`` with code
``cloud_unreachable``; other refusals raise ``ValidationError`` / ``Conflict`` / ``NotFound``
with the cloud's code.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from microhub.clock import Clock
from microhub.crypto.signing import FileSigner
from microhub.errors import (
    ConfigurationError,
    Conflict,
    MicrohubError,
    NotFound,
    StorageError,
    ValidationError,
)
from microhub.sync.wire import SignatureParams, content_digest, signature_base, signature_headers

__all__ = ["DEFAULT_TIMEOUT_S", "CloudClient", "public_key_of"]

DEFAULT_TIMEOUT_S = 30.0


def public_key_of(key_dir: Path, key_id: str) -> bytes:
    """The raw public half of the Ed25519 key file ``key_dir/<key_id>.pem``."""
    loaded = serialization.load_pem_private_key((key_dir / f"{key_id}.pem").read_bytes(), None)
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise ConfigurationError(f"key {key_id} is not an Ed25519 key", code="bad_transport_key")
    return loaded.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


class CloudClient:
    def __init__(
        self,
        *,
        base_url: str,
        key_dir: Path,
        key_id: str,
        clock: Clock,
        offset_ms: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.clock = clock
        self.offset_ms = offset_ms
        self.bytes_sent = 0
        self._signer = FileSigner(key_dir, key_id)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
            headers={"User-Agent": "microhub-sync/1"},
        )

    async def close(self) -> None:
        await self._http.aclose()

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def _headers(self, path: str, body: bytes) -> dict[str, str]:
        params = SignatureParams(
            created=(self._now_ms() + self.offset_ms) // 1000,
            nonce=secrets.token_urlsafe(18),
            key_id=self.key_id,
        )
        base = signature_base("POST", path, content_digest(body), params)
        return signature_headers(
            method="POST", path=path, body=body, params=params, signature=self._signer.sign(base)
        )

    def _learn_time(self, response: httpx.Response) -> None:
        server = response.headers.get("x-server-time")
        if server:
            with contextlib.suppress(ValueError):
                self.offset_ms = int(float(server) * 1000) - self._now_ms()

    async def post(
        self, path: str, body: bytes, *, content_type: str = "application/json", gzip: bool = False
    ) -> dict[str, Any]:
        """POST a signed request and return the JSON answer (see the module doc for errors)."""
        for attempt in (1, 2):
            headers = self._headers(path, body)
            headers["Content-Type"] = content_type
            if gzip:
                headers["Content-Encoding"] = "gzip"
            try:
                self.bytes_sent += len(body)
                response = await self._http.post(path, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise StorageError(
                    f"cloud {self.base_url} unreachable ({exc.__class__.__name__})",
                    code="cloud_unreachable",
                    retryable=True,
                ) from None
            self._learn_time(response)
            if response.status_code < 300:
                try:
                    answer: dict[str, Any] = response.json()
                except ValueError:
                    raise StorageError(
                        "the cloud's answer was cut or is not JSON",
                        code="cloud_unreachable",
                        retryable=True,
                    ) from None
                return answer
            error = _error_of(response)
            if error.get("code") == "stale_signature" and attempt == 1:
                continue  # the offset was just learnt from X-Server-Time
            raise _raise(response.status_code, error)
        raise AssertionError("unreachable")


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        doc = response.json()
        error = doc.get("error") if isinstance(doc, dict) else None
        return error if isinstance(error, dict) else {"message": str(doc)[:200]}
    except (ValueError, json.JSONDecodeError):
        return {"message": response.text[:200]}


def _raise(status: int, error: dict[str, Any]) -> MicrohubError:
    code = str(error.get("code", f"http_{status}"))
    message = f"cloud refused ({status}): {error.get('message', '')}"
    details = {k: v for k, v in error.items() if k not in ("code", "message", "retryable")}
    if status >= 500 or status == 429:
        return StorageError(message, code="cloud_unreachable", retryable=True, details=details)
    if status == 404:
        return NotFound(message, code=code, details=details)
    if status == 409:
        return Conflict(message, code=code, details=details)
    return ValidationError(
        message, field=str(error.get("field", "request")), value=error.get("value"), code=code
    )
