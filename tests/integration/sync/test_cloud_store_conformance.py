"""One conformance suite for every cloud store backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from microhub.cloud.admin import create_org, enroll_hub, now_iso
from microhub.cloud.auth import token_hash
from microhub.cloud.identity import CloudKey
from microhub.cloud.ingest import ingest_batch
from microhub.cloud.store import CloudStore, HubRecord
from microhub.errors import Conflict, NotFound
from microhub.sync.wire import PushBatch, WireEvent


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _hub(store: CloudStore, org: str | None = None) -> HubRecord:
    org = org or create_org(store, name=unique("org")).org.org_id
    enrollment = enroll_hub(store, org=org, name=unique("hub"))
    hub_id = unique("hub-id")
    return store.redeem_enrollment(
        token_hash=token_hash(enrollment.token),
        hub_id=hub_id,
        key_id=unique("k")[:16],
        public_key=b"\x01" * 32,
        now=now_iso(),
    )


def _events(start: int, stop: int, *, prev: int | None = None, tag: str = "") -> list[WireEvent]:
    out = []
    previous = start - 1 if prev is None else prev
    for seq in range(start, stop + 1):
        out.append(
            WireEvent(seq, previous, f"e{seq}{tag}", "telemetry.read", '{"w":1}', "1:0", 1, "t")
        )
        previous = seq
    return out


def _push(store: CloudStore, hub: HubRecord, events: list[WireEvent], lane: str = "telemetry"):
    batch = PushBatch(hub.hub_id, lane, max((e.hub_seq for e in events), default=0), tuple(events))
    return ingest_batch(store, CloudKey.load(store), hub=hub, batch=batch, now=now_iso())


def test_org_names_are_unique(store: CloudStore) -> None:
    """Creating an organisation twice with one name is a Conflict naming the field."""
    name = unique("org")
    create_org(store, name=name)
    with pytest.raises(Conflict) as caught:
        create_org(store, name=name)
    assert caught.value.details["field"] == "name"
    assert store.find_org(ref=name).name == name


def test_enrollment_token_works_once(store: CloudStore) -> None:
    """An enrollment token joins one hub; the second use is refused with token_used."""
    org = create_org(store, name=unique("org"))
    enrollment = enroll_hub(store, org=org.org.name, name="stall")
    args = {"token_hash": token_hash(enrollment.token), "public_key": b"k" * 32, "now": now_iso()}
    store.redeem_enrollment(hub_id=unique("h"), key_id=unique("a")[:16], **args)
    with pytest.raises(Conflict) as caught:
        store.redeem_enrollment(hub_id=unique("h"), key_id=unique("b")[:16], **args)
    assert caught.value.code == "token_used"
    with pytest.raises(NotFound):
        store.redeem_enrollment(
            token_hash=token_hash("nope"), hub_id="x", key_id="y", public_key=b"", now=now_iso()
        )


def test_expired_token_is_refused(store: CloudStore) -> None:
    """A token past its expiry cannot join a hub."""
    org = create_org(store, name=unique("org"))
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    digest = token_hash(unique("tok"))
    store.add_enrollment(
        org_id=org.org.org_id, name="old", token_hash=digest, expires=past, now=past
    )
    with pytest.raises(Conflict) as caught:
        store.redeem_enrollment(
            token_hash=digest,
            hub_id=unique("h"),
            key_id=unique("k")[:16],
            public_key=b"",
            now=now_iso(),
        )
    assert caught.value.code == "token_expired"


def test_nonce_is_accepted_once(store: CloudStore) -> None:
    """remember_nonce is true the first time a (hub, nonce) is seen and false after."""
    nonce = unique("n")
    assert store.remember_nonce(hub_id="h1", nonce=nonce, now_s=1000, keep_s=100)
    assert not store.remember_nonce(hub_id="h1", nonce=nonce, now_s=1001, keep_s=100)
    assert store.remember_nonce(hub_id="h2", nonce=nonce, now_s=1001, keep_s=100)


def test_ingest_is_idempotent_and_contiguous(store: CloudStore) -> None:
    """Re-sent events are duplicates, and events after a gap are not accepted."""
    hub = _hub(store)
    first = _push(store, hub, _events(1, 5))
    assert (first.accepted, first.acked_through) == (5, 5)
    again = _push(store, hub, _events(1, 7))
    assert (again.accepted, again.duplicates, again.acked_through) == (2, 5, 7)
    gap = _push(store, hub, _events(10, 12, prev=9))
    assert (gap.accepted, gap.acked_through, gap.gap_at) == (0, 7, 10)
    assert [e.hub_seq for e in store.events(hub=hub)] == list(range(1, 8))
    assert store.acked(hub=hub)["telemetry"] == 7


def test_same_seq_other_content_is_an_alarm(store: CloudStore) -> None:
    """A different event at a stored sequence number raises an alarm and never overwrites."""
    hub = _hub(store)
    _push(store, hub, _events(1, 3))
    result = _push(store, hub, _events(2, 2, tag="x"))
    assert result.alarms and result.alarms[0]["kind"] == "different_content"
    assert store.events(hub=hub)[1].event_id == "e2"
    stats = store.stats(hub=hub)
    assert stats["alarms"] == 1


def test_reused_event_id_is_kept_aside_and_queue_moves(store: CloudStore) -> None:
    """An event id reused at a new sequence is an alarm; acked_through still moves past it."""
    hub = _hub(store)
    _push(store, hub, _events(1, 2))
    reused = WireEvent(3, 2, "e1", "telemetry.read", '{"w":2}', "1:0", 1, "t")
    result = _push(store, hub, [reused, *_events(4, 4, prev=3)])
    assert result.acked_through == 4
    assert [a["kind"] for a in result.alarms] == ["event_id_reused"]
    assert [e.hub_seq for e in store.events(hub=hub)] == [1, 2, 4]


def test_lanes_are_independent(store: CloudStore) -> None:
    """Each lane has its own acked_through following lane_prev links."""
    hub = _hub(store)
    money = [
        WireEvent(1, 0, "m1", "x", "{}", "1:0", 1, "t"),
        WireEvent(3, 1, "m3", "x", "{}", "1:0", 1, "t"),
    ]
    tele = [WireEvent(2, 0, "t2", "x", "{}", "1:0", 1, "t")]
    assert _push(store, hub, money, lane="money").acked_through == 3
    assert _push(store, hub, tele, lane="telemetry").acked_through == 2
    assert store.acked(hub=hub) == {"money": 3, "consent": 0, "content": 0, "telemetry": 2}


def test_hubs_are_isolated_by_org(store: CloudStore) -> None:
    """find_hub with an org never returns another org's hub, and events are per hub."""
    a, b = _hub(store), _hub(store)
    _push(store, a, _events(1, 3))
    assert store.events(hub=b) == []
    with pytest.raises(NotFound):
        store.find_hub(ref=a.hub_id, org_id=b.org_id)
    assert store.find_hub(ref=a.hub_id, org_id=a.org_id).hub_id == a.hub_id


def test_config_cursor_increases(store: CloudStore) -> None:
    """publish_config assigns increasing cursors and config_after pages by cursor, per org."""
    org = create_org(store, name=unique("org")).org.org_id
    other = create_org(store, name=unique("org")).org.org_id
    c1 = store.publish_config(org_id=org, kind="catalog", body="[]", now=now_iso())
    store.publish_config(org_id=other, kind="catalog", body="[1]", now=now_iso())
    c2 = store.publish_config(org_id=org, kind="catalog", body=json.dumps([2]), now=now_iso())
    assert c2 > c1
    assert [c.cursor for c in store.config_after(org_id=org, after=0, limit=10)] == [c1, c2]
    assert [c.body for c in store.config_after(org_id=org, after=c1, limit=10)] == ["[2]"]


def test_meta_setdefault_keeps_first_value(store: CloudStore) -> None:
    """meta_setdefault stores once and returns the stored value after."""
    key = unique("k")
    assert store.meta_setdefault(key, "a") == "a"
    assert store.meta_setdefault(key, "b") == "a"
