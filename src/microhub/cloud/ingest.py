"""Ingest one push batch for one hub's lane: idempotent, contiguous, verified on arrival.

Rules (``docs/sync.md`` explains why):

* An event at or below the lane's ``acked_through`` is a duplicate when its content is the same
  (counted, never stored twice) and an **alarm** when it differs (kept aside, never overwrites).
* New events are accepted only as the contiguous run that follows ``acked_through``: each
  event's ``lane_prev`` must be the previous accepted one. The run stops at the first gap; the
  answer's ``acked_through`` tells the hub where to resume.
* An event id already used by another sequence number is an alarm; the event is kept aside and
  the lane moves on, so the honest part of the queue never blocks.
* Journal events (money lane, payload with a ``record``) are verified against the series head the
  cloud holds: body hash, sequence, ``prev`` link and signature with the key pinned from the
  series' ``start`` (or latest ``key_change``) record. A failure is a per-event **reject**: the
  event is stored and acknowledged, the reject is recorded and reported.
* Every touched series gets a fresh **anchor**: the cloud's signature over ``(hub, series, seq,
  hash)`` of its head, returned to the hub.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from microhub.cloud.identity import CloudKey
from microhub.cloud.store import Alarm, CloudStore, HubRecord, SeriesHead
from microhub.crypto.signing import check_signatures, key_id_for
from microhub.domain.canonical import canonical, sha256_hex
from microhub.domain.journal import GENESIS, summary
from microhub.domain.verify import PublicKey
from microhub.sync.wire import PushBatch, WireEvent, content_hash

__all__ = ["PushResult", "ingest_batch", "verify_record"]


@dataclass(slots=True)
class PushResult:
    lane: str
    acked_through: int
    accepted: int = 0
    duplicates: int = 0
    alarms: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    gap_at: int | None = None
    anchors: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "lane": self.lane,
            "acked_through": self.acked_through,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "alarms": self.alarms,
            "rejects": self.rejects,
            "gap_at": self.gap_at,
            "anchors": self.anchors,
        }


SignatureJob = tuple[PublicKey, bytes, bytes]


def verify_record(
    payload: dict[str, Any], head: SeriesHead
) -> tuple[list[tuple[str, str]], SignatureJob | None]:
    """Check one journal event against its series head and move the head on.

    Returns the problems found and the signature check still to run (the caller runs many at
    once, in parallel threads); a failed check is a ``bad_signature`` reject.
    """
    problems: list[tuple[str, str]] = []
    record = payload.get("record")
    series, seq, digest = payload.get("series"), payload.get("seq"), payload.get("hash")
    if not isinstance(record, dict) or not isinstance(seq, int) or not isinstance(digest, str):
        return [("malformed", "journal event lacks record, seq or hash")], None
    raw = canonical(record)
    actual = sha256_hex(raw)
    if actual != digest:
        problems.append(("modified", f"body hash {actual[:12]} != stated {digest[:12]}"))
    if record.get("series") != series or record.get("seq") != seq:
        problems.append(("modified", "record's series/seq differ from the event's"))
    if seq <= head.seq:
        return [*problems, ("duplicate_seq", f"seq {seq} is not after the head {head.seq}")], None
    if seq != head.seq + 1:
        problems.append(("gap", f"seq {seq} follows {head.seq}: records are missing"))
    elif record.get("prev") != head.hash:
        problems.append(("chain_broken", "prev does not match the previous record's hash"))
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    rtype = record.get("type")
    if rtype in ("start", "key_change") and isinstance(data, dict):
        try:
            public = bytes.fromhex(str(data["public_key"]))
            alg = str(data["alg"])
            new_id = key_id_for(public)
        except (KeyError, ValueError):
            problems.append(("unknown_key", f"{rtype} record does not carry a usable key"))
        else:
            if rtype == "start" and new_id == record.get("key"):
                head.keys.setdefault(new_id, [alg, public.hex()])
                head.key_id = new_id
            elif rtype == "key_change" and new_id == data.get("key"):
                head.keys.setdefault(new_id, [alg, public.hex()])
    key_id = str(record.get("key", ""))
    pinned = head.keys.get(key_id)
    signature = payload.get("signature")
    job: SignatureJob | None = None
    if pinned is None or key_id != head.key_id:
        problems.append(("bad_signature", f"signed with key {key_id!r}, not the series' key"))
    elif signature is not None:
        try:
            sig = base64.b64decode(str(signature), validate=True)
        except (binascii.Error, ValueError):
            sig = b""
        try:
            line = summary(record, actual).encode()
        except KeyError:
            line = b""
        job = (PublicKey(key_id, pinned[0], bytes.fromhex(pinned[1])), line, sig)
    if rtype == "key_change" and isinstance(data, dict) and data.get("key") in head.keys:
        head.key_id = str(data["key"])
    head.seq = seq
    head.hash = actual
    return problems, job


def _journal_payload(event: WireEvent) -> dict[str, Any] | None:
    try:
        payload = json.loads(event.payload)
    except ValueError:
        return None
    if isinstance(payload, dict) and "record" in payload and "series" in payload:
        return payload
    return None


def ingest_batch(
    store: CloudStore, key: CloudKey, *, hub: HubRecord, batch: PushBatch, now: str
) -> PushResult:
    """Store what can be stored of ``batch`` in one transaction; return what happened."""
    lane = batch.lane
    with store.ingest(hub=hub, lane=lane) as tx:
        result = PushResult(lane=lane, acked_through=tx.acked)
        current = tx.acked
        hashes = {e.hub_seq: content_hash(lane, e) for e in batch.events}
        known = tx.existing([e.hub_seq for e in batch.events])
        run: list[WireEvent] = []
        for event in batch.events:
            stored = known.get(event.hub_seq)
            if stored is not None:
                if stored == (event.event_id, hashes[event.hub_seq]):
                    result.duplicates += 1
                    if event.hub_seq > current and event.lane_prev == current:
                        current = event.hub_seq  # already held (a replay of a cut response)
                    continue
                alarm = Alarm(
                    event.hub_seq,
                    event.event_id,
                    "different_content",
                    "same sequence, other content",
                )
                tx.alarm(alarm, body=json.dumps(event.to_json()), now=now)
                result.alarms.append({"hub_seq": alarm.hub_seq, "kind": alarm.kind})
                if event.hub_seq > current and event.lane_prev == current:
                    current = event.hub_seq
                continue
            if event.hub_seq <= current:
                continue  # an old number we do not hold in this lane: nothing to do
            if event.lane_prev != current:
                result.gap_at = event.hub_seq
                break
            run.append(event)
            current = event.hub_seq
        taken = tx.taken_ids([e.event_id for e in run])
        fresh: list[tuple[WireEvent, str]] = []
        seen_ids: set[str] = set()
        for event in run:
            if event.event_id in taken or event.event_id in seen_ids:
                alarm = Alarm(
                    event.hub_seq, event.event_id, "event_id_reused", "event id already stored"
                )
                tx.alarm(alarm, body=json.dumps(event.to_json()), now=now)
                result.alarms.append({"hub_seq": alarm.hub_seq, "kind": alarm.kind})
                continue
            seen_ids.add(event.event_id)
            fresh.append((event, hashes[event.hub_seq]))
        touched = _verify_journal(tx, fresh, result, now) if lane == "money" else {}
        tx.insert(fresh, lane=lane, received=now)
        for head in touched.values():
            head.anchor_sig = key.sign_anchor(
                hub_id=hub.hub_id, series=head.series, seq=head.seq, digest=head.hash
            )
            result.anchors.append(
                {
                    "series": head.series,
                    "seq": head.seq,
                    "hash": head.hash,
                    "signature": head.anchor_sig,
                    "key_id": key.key_id,
                }
            )
        tx.save_heads(touched.values())
        tx.finish(
            acked=current,
            duplicates=result.duplicates,
            outbox_head=batch.outbox_head,
            now=now,
            skew_s=-batch.clock_offset_ms // 1000,
        )
        result.accepted = len(fresh)
        result.acked_through = current
    return result


def _verify_journal(
    tx: Any, fresh: Sequence[tuple[WireEvent, str]], result: PushResult, now: str
) -> dict[str, SeriesHead]:
    parsed = [(e, _journal_payload(e)) for e, _ in fresh]
    series = {str(p["series"]) for _, p in parsed if p is not None}
    if not series:
        return {}
    heads: dict[str, SeriesHead] = tx.heads(series)
    problems: list[tuple[int, str, str]] = []
    jobs: list[SignatureJob] = []
    job_seqs: list[int] = []
    for event, payload in parsed:
        if payload is None:
            continue
        name = str(payload["series"])
        head = heads.setdefault(name, SeriesHead(name, 0, GENESIS))
        found, job = verify_record(payload, head)
        problems.extend((event.hub_seq, kind, detail) for kind, detail in found)
        if job is not None:
            jobs.append(job)
            job_seqs.append(event.hub_seq)
    for hub_seq, ok in zip(job_seqs, check_signatures(jobs), strict=True):
        if not ok:
            problems.append((hub_seq, "bad_signature", "the signature does not match the record"))
    for hub_seq, kind, detail in sorted(problems):
        tx.reject(hub_seq=hub_seq, kind=kind, detail=detail, now=now)
        result.rejects.append({"hub_seq": hub_seq, "kind": kind, "detail": detail})
    return heads
