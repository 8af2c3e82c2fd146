"""The hub ↔ cloud wire protocol: request signatures and push batches.

Both ends import this module, so what the hub signs and what the cloud checks cannot drift.

Request signatures follow HTTP Message Signatures (RFC 9421) with the ``ed25519`` algorithm and
``Content-Digest`` (RFC 9530, ``sha-256``). The covered components are fixed::

    ("@method" "@path" "content-digest");created=<unix s>;nonce="<random>";keyid="<key id>";alg="ed25519"

and travel as ``Signature-Input: sync=...`` and ``Signature: sync=:<base64>:``. Only that one
profile is accepted (a subset of RFC 9421, written by hand because it is 60 lines and the
general libraries take a requests-style object). Replay protection is the cloud's: ``created``
must be within :data:`SIGNATURE_WINDOW_S` of the cloud's clock and each ``nonce`` is accepted
once per hub. A hub whose clock is off learns the offset from the cloud's ``X-Server-Time``.

A push body is gzip-compressed JSON (``Content-Encoding: gzip``)::

    {"hub_id": ..., "lane": "money", "outbox_head": 1234, "clock_offset_ms": -120,
     "events": [{"hub_seq", "lane_prev", "event_id", "type", "payload", "hlc", "schema",
                 "created"}, ...]}

``payload`` is the outbox's canonical JSON as a string (kept byte for byte). ``lane_prev`` is the
``hub_seq`` of the previous event in the same lane (0 for the first), which lets the cloud accept
only a contiguous run per lane.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microhub.errors import ValidationError

__all__ = [
    "LANES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "SIGNATURE_WINDOW_S",
    "PushBatch",
    "SignatureParams",
    "WireEvent",
    "anchor_message",
    "content_digest",
    "content_hash",
    "decode_push",
    "encode_push",
    "parse_signature",
    "signature_base",
    "signature_headers",
]

LANES = ("money", "consent", "content", "telemetry")
SIGNATURE_WINDOW_S = 300
MAX_BATCH_EVENTS = 20_000
MAX_BATCH_BYTES = 32 * 1024 * 1024  # decompressed
COMPONENTS = ("@method", "@path", "content-digest")
LABEL = "sync"
_INPUT = re.compile(
    r'^sync=\("@method" "@path" "content-digest"\);created=(\d{1,12});'
    r'nonce="([A-Za-z0-9_-]{16,64})";keyid="([0-9a-f]{16})";alg="ed25519"$'
)
_SIG = re.compile(r"^sync=:([A-Za-z0-9+/=]{80,100}):$")


@dataclass(frozen=True, slots=True)
class SignatureParams:
    created: int
    nonce: str
    key_id: str

    def serialise(self) -> str:
        components = " ".join(f'"{c}"' for c in COMPONENTS)
        return (
            f'({components});created={self.created};nonce="{self.nonce}";'
            f'keyid="{self.key_id}";alg="ed25519"'
        )


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def signature_base(method: str, path: str, digest: str, params: SignatureParams) -> bytes:
    """The RFC 9421 signature base for our fixed component list."""
    lines = [
        f'"@method": {method.upper()}',
        f'"@path": {path}',
        f'"content-digest": {digest}',
        f'"@signature-params": {params.serialise()}',
    ]
    return "\n".join(lines).encode()


def signature_headers(
    *, method: str, path: str, body: bytes, params: SignatureParams, signature: bytes
) -> dict[str, str]:
    return {
        "Content-Digest": content_digest(body),
        "Signature-Input": f"{LABEL}={params.serialise()}",
        "Signature": f"{LABEL}=:{base64.b64encode(signature).decode()}:",
    }


def parse_signature(headers: Mapping[str, str]) -> tuple[SignatureParams, bytes]:
    """Parse ``Signature-Input`` and ``Signature``; ``ValidationError`` when malformed."""
    sig_input = headers.get("signature-input", "")
    match = _INPUT.match(sig_input)
    if match is None:
        raise ValidationError(
            "Signature-Input is missing or not the sync profile",
            field="signature-input",
            value=sig_input[:200],
            code="bad_signature_input",
        )
    sig = _SIG.match(headers.get("signature", ""))
    if sig is None:
        raise ValidationError(
            "Signature header is missing or malformed",
            field="signature",
            value=None,
            code="bad_signature",
        )
    params = SignatureParams(int(match[1]), match[2], match[3])
    return params, base64.b64decode(sig[1])


@dataclass(frozen=True, slots=True)
class WireEvent:
    hub_seq: int
    lane_prev: int
    event_id: str
    type: str
    payload: str
    hlc: str
    schema: int
    created: str

    def to_json(self) -> dict[str, Any]:
        return {
            "hub_seq": self.hub_seq,
            "lane_prev": self.lane_prev,
            "event_id": self.event_id,
            "type": self.type,
            "payload": self.payload,
            "hlc": self.hlc,
            "schema": self.schema,
            "created": self.created,
        }


def content_hash(lane: str, event: WireEvent) -> str:
    """What "same content" means for an event id: everything but ``lane_prev``."""
    text = "\x1f".join(
        (
            event.event_id,
            lane,
            event.type,
            event.payload,
            event.hlc,
            str(event.schema),
            event.created,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PushBatch:
    hub_id: str
    lane: str
    outbox_head: int
    events: tuple[WireEvent, ...]
    clock_offset_ms: int = 0  # cloud clock minus hub clock, as the hub measured it


def encode_push(
    *,
    hub_id: str,
    lane: str,
    outbox_head: int,
    events: Sequence[WireEvent],
    clock_offset_ms: int = 0,
    level: int = 1,
) -> bytes:
    doc = {
        "hub_id": hub_id,
        "lane": lane,
        "outbox_head": outbox_head,
        "clock_offset_ms": clock_offset_ms,
        "events": [e.to_json() for e in events],
    }
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return gzip.compress(raw, compresslevel=level, mtime=0)


def _bad(problem: str, field: str, value: Any = None) -> ValidationError:
    return ValidationError(f"push batch: {problem}", field=field, value=value, code="bad_batch")


def _inflate(body: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        raw = body
    elif encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(body, MAX_BATCH_BYTES + 1)
        except zlib.error as exc:
            raise _bad(f"corrupt gzip data ({exc})", "body") from None
        if len(raw) > MAX_BATCH_BYTES:
            raise _bad(f"larger than {MAX_BATCH_BYTES} bytes decompressed", "body", len(raw))
        if not inflater.eof:
            raise _bad("truncated gzip data", "body")
    else:
        raise _bad(f"unsupported Content-Encoding {encoding!r}", "content-encoding", encoding)
    if len(raw) > MAX_BATCH_BYTES:
        raise _bad(f"larger than {MAX_BATCH_BYTES} bytes", "body", len(raw))
    return raw


def _int(item: Mapping[str, Any], name: str, index: int) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(f"events[{index}].{name} must be a non-negative integer", name, value)
    return value


def _str(item: Mapping[str, Any], name: str, index: int, limit: int) -> str:
    value = item.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"events[{index}].{name} must be a string of at most {limit} chars", name)
    return value


def decode_push(body: bytes, *, encoding: str) -> PushBatch:
    """Decode and check a push body; ``ValidationError`` (code ``bad_batch``) names the problem."""
    raw = _inflate(body, encoding)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise _bad(f"not JSON ({exc.__class__.__name__})", "body") from None
    if not isinstance(doc, dict):
        raise _bad("not a JSON object", "body")
    lane = doc.get("lane")
    if lane not in LANES:
        raise _bad(f"unknown lane {lane!r}", "lane", lane)
    hub_id = doc.get("hub_id")
    if not isinstance(hub_id, str) or not hub_id:
        raise _bad("hub_id is missing", "hub_id", hub_id)
    head = doc.get("outbox_head", 0)
    if not isinstance(head, int) or head < 0:
        raise _bad("outbox_head must be a non-negative integer", "outbox_head", head)
    items = doc.get("events")
    if not isinstance(items, list):
        raise _bad("events must be a list", "events")
    if len(items) > MAX_BATCH_EVENTS:
        raise _bad(f"more than {MAX_BATCH_EVENTS} events", "events", len(items))
    events: list[WireEvent] = []
    previous = -1
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(f"events[{index}] is not an object", "events")
        event = WireEvent(
            hub_seq=_int(item, "hub_seq", index),
            lane_prev=_int(item, "lane_prev", index),
            event_id=_str(item, "event_id", index, 64),
            type=_str(item, "type", index, 100),
            payload=_str(item, "payload", index, MAX_BATCH_BYTES),
            hlc=_str(item, "hlc", index, 64),
            schema=_int(item, "schema", index),
            created=_str(item, "created", index, 64),
        )
        if event.hub_seq <= previous or event.lane_prev >= event.hub_seq:
            raise _bad(
                f"events[{index}]: hub_seq must increase and follow lane_prev",
                "hub_seq",
                event.hub_seq,
            )
        previous = event.hub_seq
        events.append(event)
    offset = doc.get("clock_offset_ms", 0)
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise _bad("clock_offset_ms must be an integer", "clock_offset_ms", offset)
    return PushBatch(
        hub_id=hub_id, lane=lane, outbox_head=head, events=tuple(events), clock_offset_ms=offset
    )


def anchor_message(*, hub_id: str, series: str, seq: int, digest: str) -> bytes:
    """What the cloud signs to anchor a series head: ``MHA1|hub|series|seq|hash``."""
    return f"MHA1|{hub_id}|{series}|{seq}|{digest}".encode()
