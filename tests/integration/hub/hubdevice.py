"""A device in Python: what the PWA does (key, series, sign, chain), for API tests.

This is a test helper, not a fake of anything the hub uses: it produces records the same way the
PWA's JavaScript does, so tests can drive the real API with real signatures.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from microhub.crypto.signing import key_id_for
from microhub.domain.catalog import CatalogItem
from microhub.domain.journal import Head, build
from microhub.domain.payments import Payment
from microhub.domain.sale import CartLine, price_cart


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class PyDevice:
    alg: str = "ed25519"
    private: Any = None
    token: str = ""
    series: str = ""
    head: Head | None = None
    records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.private is None:
            self.private = (
                ed25519.Ed25519PrivateKey.generate()
                if self.alg == "ed25519"
                else ec.generate_private_key(ec.SECP256R1())
            )

    @property
    def public_raw(self) -> bytes:
        if self.alg == "ed25519":
            return self.private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        return self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def key_id(self) -> str:
        return key_id_for(self.public_raw)

    def sign(self, message: bytes) -> bytes:
        if self.alg == "ed25519":
            return bytes(self.private.sign(message))
        der = self.private.sign(message, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def pair(self, client: Any, code: str) -> dict[str, Any]:
        response = client.post(
            "/api/v1/pair",
            json={"code": code, "alg": self.alg, "public_key": self.public_raw.hex()},
        )
        assert response.status_code == 200, response.text
        data = response.json()
        self.token = data["token"]
        self.series = data["device"]["series"]
        self.head = Head.empty(self.series, self.key_id)
        return data

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _record(self, draft: Any) -> dict[str, Any]:
        self.head = draft.head()
        record = {
            "body": draft.body,
            "signature": b64url(self.sign(draft.summary)),
            "hash": draft.hash,
        }
        self.records.append(record)
        return record

    def start(self, *, currency: str = "EUR", time: datetime | None = None) -> dict[str, Any]:
        assert self.head is not None
        draft = build(
            self.head,
            record_type="start",
            time=time or datetime.now(UTC),
            currency=currency,
            data={"register": "test", "alg": self.alg, "public_key": self.public_raw.hex()},
        )
        return self._record(draft)

    def sale(
        self,
        items: list[tuple[CatalogItem, int]],
        *,
        currency: str = "EUR",
        method: str = "cash",
        time: datetime | None = None,
        prices_include_tax: bool = True,
    ) -> dict[str, Any]:
        assert self.head is not None
        priced = price_cart(
            [CartLine(item, qty) for item, qty in items], prices_include_tax=prices_include_tax
        )
        details: dict[str, Any] = (
            {"tendered": priced.gross, "change": 0}
            if method == "cash"
            else {"terminal_ref": "T-1"}
            if method == "tap"
            else {}
        )
        draft = build(
            self.head,
            record_type="sale",
            time=time or datetime.now(UTC),
            currency=currency,
            priced=priced,
            payments=[Payment(method, priced.gross, details)],
        )
        return self._record(draft)

    def upload(
        self, client: Any, records: list[dict[str, Any]], *, sent_at: datetime | None = None
    ) -> Any:
        return client.post(
            "/api/v1/records",
            headers=self.auth,
            json={
                "sent_at": (sent_at or datetime.now(UTC)).isoformat(),
                "device_head": self.head.seq if self.head else 0,
                "records": records,
            },
        )
