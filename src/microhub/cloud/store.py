"""The cloud's storage port: one small Protocol, one module per backend.

Backends: :mod:`microhub.cloud.store_sqlite` (``sqlite:///path``, the embedded default) and
:mod:`microhub.cloud.store_postgres` (``postgresql://...``, real fleets). Both pass the same
conformance suite (``tests/integration/sync/test_cloud_store_conformance.py``).

Rules every backend keeps:

* Every row that belongs to a hub carries ``(org_id, hub_id)`` first in its key, so the data can
  be partitioned (or sharded by Citus) on it; no query reads across hubs except the admin ones,
  which filter by ``org_id``.
* ``create_org`` raises ``Conflict`` when the name exists; ``find_org`` / ``find_hub`` raise
  ``NotFound``. ``find_hub(org_id=...)`` never returns a hub of another org.
* ``redeem_enrollment`` is single-use and atomic: a token works once, before it expires; a second
  use raises ``Conflict`` (code ``token_used``), except by the same hub id with the same key
  (a hub retrying after a crash), which returns the same hub. A hub id or key already joined
  raises ``Conflict``.
* ``remember_nonce`` is atomic: it returns ``True`` the first time a ``(hub, nonce)`` is seen and
  ``False`` ever after (within the retention window), across replicas.
* ``ingest`` opens one transaction for one hub's lane and holds that lane's lock until it ends:
  concurrent pushes for the same lane serialise; different hubs never wait for each other.
  Everything written through the :class:`IngestTx` commits together or not at all.
* Stored events are never updated or deleted. Idempotency never expires.
* ``publish_config`` assigns a strictly increasing cursor; ``config_after`` returns changes with
  a cursor greater than ``after`` in cursor order.
* Methods may be retried after a ``StorageError`` with ``retryable`` set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from microhub.sync.wire import WireEvent

__all__ = [
    "Alarm",
    "CloudStore",
    "ConfigChange",
    "HubRecord",
    "IngestTx",
    "Org",
    "SeriesHead",
    "StoredEvent",
]


@dataclass(frozen=True, slots=True)
class Org:
    org_id: str
    name: str


@dataclass(frozen=True, slots=True)
class HubRecord:
    org_id: str
    hub_id: str
    name: str
    key_id: str
    public_key: bytes


@dataclass(slots=True)
class SeriesHead:
    """What the cloud knows of one series: its head and the keys pinned for it."""

    series: str
    seq: int = 0
    hash: str = "0" * 64
    key_id: str = ""
    keys: dict[str, list[str]] = field(default_factory=dict)  # key_id -> [alg, public hex]
    anchor_sig: str = ""  # the cloud's signature over the head (base64)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    hub_seq: int
    event_id: str
    lane: str
    type: str
    payload: str
    created: str
    received: str


@dataclass(frozen=True, slots=True)
class Alarm:
    hub_seq: int
    event_id: str
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class ConfigChange:
    cursor: int
    kind: str
    body: str


class IngestTx(Protocol):
    """One push's transaction for one (hub, lane). ``acked`` is read under the lane lock."""

    acked: int

    def existing(self, hub_seqs: Sequence[int]) -> dict[int, tuple[str, str]]:
        """Stored ``hub_seq -> (event_id, content_hash)`` among ``hub_seqs``."""
        ...

    def taken_ids(self, event_ids: Sequence[str]) -> dict[str, int]:
        """Stored ``event_id -> hub_seq`` among ``event_ids`` (this hub)."""
        ...

    def heads(self, series: Iterable[str]) -> dict[str, SeriesHead]:
        """Known heads among ``series`` (absent ones are missing from the result)."""
        ...

    def insert(self, events: Sequence[tuple[WireEvent, str]], *, lane: str, received: str) -> None:
        """Store ``(event, content_hash)`` pairs."""
        ...

    def save_heads(self, heads: Iterable[SeriesHead]) -> None: ...

    def alarm(self, alarm: Alarm, *, body: str, now: str) -> None: ...

    def reject(self, *, hub_seq: int, kind: str, detail: str, now: str) -> None: ...

    def finish(
        self, *, acked: int, duplicates: int, outbox_head: int, now: str, skew_s: int = 0
    ) -> None:
        """Move the lane's ``acked_through`` (never backwards), count duplicates refused, and
        note the hub's reported outbox head and clock skew (hub clock minus cloud clock)."""
        ...


class CloudStore(Protocol):
    url: str

    def migrate(self) -> int: ...

    def close(self) -> None: ...

    def meta_setdefault(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is there; return the stored value."""
        ...

    def create_org(self, *, org_id: str, name: str, admin_token_hash: str, now: str) -> Org: ...

    def find_org(self, *, ref: str) -> Org: ...

    def org_by_admin_token(self, *, token_hash: str) -> Org | None: ...

    def add_enrollment(
        self, *, org_id: str, name: str, token_hash: str, expires: str, now: str
    ) -> None: ...

    def redeem_enrollment(
        self, *, token_hash: str, hub_id: str, key_id: str, public_key: bytes, now: str
    ) -> HubRecord: ...

    def hub_by_key(self, *, key_id: str) -> HubRecord | None: ...

    def find_hub(self, *, ref: str, org_id: str | None = None) -> HubRecord: ...

    def remember_nonce(self, *, hub_id: str, nonce: str, now_s: int, keep_s: int) -> bool: ...

    def ingest(self, *, hub: HubRecord, lane: str) -> AbstractContextManager[IngestTx]: ...

    def acked(self, *, hub: HubRecord) -> dict[str, int]: ...

    def anchors(self, *, hub: HubRecord) -> list[SeriesHead]: ...

    def events(self, *, hub: HubRecord, after: int = 0, limit: int = 1000) -> list[StoredEvent]: ...

    def publish_config(self, *, org_id: str, kind: str, body: str, now: str) -> int: ...

    def config_after(self, *, org_id: str, after: int, limit: int) -> list[ConfigChange]: ...

    def audit(
        self, *, org_id: str | None, hub_id: str | None, kind: str, detail: str, now: str
    ) -> None: ...

    def audit_log(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries first (refused requests, gaps, alarms)."""
        ...

    def stats(self, *, hub: HubRecord) -> dict[str, Any]: ...
