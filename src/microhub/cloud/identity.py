"""The cloud's own Ed25519 key, which signs series head anchors.

The private key lives in the cloud database (``cloud_meta.signing_key``, PKCS#8 PEM), created
on first start, so every replica signs with the same key. Hubs pin its public half at ``join``.
It is never printed or logged.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from microhub.cloud.store import CloudStore
from microhub.crypto.signing import key_id_for
from microhub.sync.wire import anchor_message

__all__ = ["CloudKey"]


class CloudKey:
    def __init__(self, private: ed25519.Ed25519PrivateKey) -> None:
        self._private = private
        self.public_raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id_for(self.public_raw)

    @classmethod
    def load(cls, store: CloudStore) -> CloudKey:
        fresh = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pem = store.meta_setdefault("signing_key", fresh.decode())
        loaded = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(loaded, ed25519.Ed25519PrivateKey)
        return cls(loaded)

    def sign_anchor(self, *, hub_id: str, series: str, seq: int, digest: str) -> str:
        message = anchor_message(hub_id=hub_id, series=series, seq=seq, digest=digest)
        return base64.b64encode(self._private.sign(message)).decode()

    def __repr__(self) -> str:
        return f"CloudKey(key_id={self.key_id!r})"
