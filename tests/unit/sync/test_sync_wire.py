"""The wire protocol and backoff: pure functions, no network."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microhub.errors import ValidationError
from microhub.sync.backoff import Backoff
from microhub.sync.wire import (
    MAX_BATCH_BYTES,
    SignatureParams,
    WireEvent,
    content_digest,
    content_hash,
    decode_push,
    encode_push,
    parse_signature,
    signature_base,
    signature_headers,
)


def _event(seq: int, prev: int) -> WireEvent:
    return WireEvent(seq, prev, f"id{seq}", "sale.recorded", '{"a":1}', "1:0", 1, "t")


def test_signature_headers_parse_back() -> None:
    """Headers produced for a request parse back to the same parameters and signature."""
    params = SignatureParams(
        created=1_700_000_000, nonce="abcdefghijklmnopqrstuvwx", key_id="0123456789abcdef"
    )
    headers = signature_headers(
        method="POST", path="/v1/push", body=b"x", params=params, signature=b"s" * 64
    )
    lowered = {k.lower(): v for k, v in headers.items()}
    parsed, signature = parse_signature(lowered)
    assert (parsed, signature) == (params, b"s" * 64)
    assert lowered["content-digest"] == content_digest(b"x")


def test_signature_base_follows_rfc_9421_layout() -> None:
    """The signature base lists each component on its own line, then @signature-params."""
    params = SignatureParams(1, "n" * 16, "0" * 16)
    base = signature_base("post", "/v1/push", "sha-256=:x:", params).decode().splitlines()
    assert base[0] == '"@method": POST'
    assert base[1] == '"@path": /v1/push'
    assert base[3].startswith(
        '"@signature-params": ("@method" "@path" "content-digest");created=1;'
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"signature-input": 'sync=("@method");created=1;nonce="x";keyid="y";alg="ed25519"'},
        {
            "signature-input": 'sync=("@method" "@path" "content-digest");created=1;nonce="abcdefghijklmnop";keyid="0123456789abcdef";alg="ed25519"',
            "signature": "sync=:short:",
        },
    ],
)
def test_malformed_signatures_are_refused(headers: dict[str, str]) -> None:
    """Missing or foreign signature headers raise ValidationError naming the header."""
    with pytest.raises(ValidationError) as caught:
        parse_signature(headers)
    assert caught.value.field in ("signature-input", "signature")


def test_push_round_trip() -> None:
    """A batch encodes to gzip JSON and decodes to the same events."""
    events = [_event(1, 0), _event(3, 1)]
    body = encode_push(hub_id="h", lane="money", outbox_head=3, events=events)
    batch = decode_push(body, encoding="gzip")
    assert batch.events == tuple(events) and batch.lane == "money" and batch.outbox_head == 3


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"\x1f\x8b\x08garbage", "corrupt"),
        (gzip.compress(b'{"lane": "money"')[:-6], "truncated"),
        (gzip.compress(b"[1]"), "not a JSON object"),
        (gzip.compress(b'{"lane": "spam", "hub_id": "h", "events": []}'), "unknown lane"),
        (
            gzip.compress(
                json.dumps(
                    {
                        "lane": "money",
                        "hub_id": "h",
                        "events": [_event(2, 0).to_json(), _event(1, 0).to_json()],
                    }
                ).encode()
            ),
            "increase",
        ),
        (gzip.compress(b" " * (MAX_BATCH_BYTES + 10)), "larger"),
    ],
)
def test_bad_batches_are_refused(body: bytes, problem: str) -> None:
    """Corrupt, truncated, oversized or out-of-order batches raise bad_batch naming the problem."""
    with pytest.raises(ValidationError) as caught:
        decode_push(body, encoding="gzip")
    assert caught.value.code == "bad_batch"
    assert problem in caught.value.message


def test_content_hash_ignores_lane_prev_only() -> None:
    """Two sends of one event hash alike even with another lane_prev; any content change differs."""
    a = _event(5, 4)
    b = WireEvent(5, 1, a.event_id, a.type, a.payload, a.hlc, a.schema, a.created)
    c = WireEvent(5, 4, a.event_id, a.type, '{"a":2}', a.hlc, a.schema, a.created)
    assert content_hash("money", a) == content_hash("money", b) != content_hash("money", c)


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=40))
def test_backoff_is_full_jitter_under_the_cap(seed: int, failures: int) -> None:
    """Each delay is between 0 and min(cap, base * 2**n)."""
    backoff = Backoff(base=0.5, cap=30, rng=random.Random(seed))
    for n in range(failures):
        delay = backoff.next_delay()
        assert 0 <= delay <= min(30, 0.5 * 2**n)
    backoff.reset()
    assert backoff.next_delay() <= 0.5
