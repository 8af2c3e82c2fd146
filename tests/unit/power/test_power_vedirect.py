"""The VE.Direct text-protocol parser: checksums, hex messages, bad frames, sentinels."""

from __future__ import annotations

import pytest

from microhub.power.sources import Problem
from microhub.power.sources.vedirect import FrameParser, encode_block, reading_from_frame

BMV = [
    ("PID", "0x203"),
    ("V", "25600"),
    ("I", "-4000"),
    ("P", "-102"),
    ("CE", "-12500"),
    ("SOC", "876"),
    ("TTG", "240"),
    ("Alarm", "OFF"),
]


def test_block_round_trips_with_checksum() -> None:
    """A block with a correct checksum becomes one frame with every field."""
    frames = FrameParser().feed(encode_block(BMV))
    assert frames == [dict(BMV)]


def test_fields_map_to_a_reading() -> None:
    """mV, mA, W (charging positive), mAh and permille become volts, drawn amps/watts, Ah and %."""
    r = reading_from_frame(dict(BMV), source="vedirect:/dev/x", at=0.0)
    assert r.volts == 25.6 and r.amps == 4.0 and r.watts == 102.0
    assert r.consumed_ah == pytest.approx(12.5) and r.soc == pytest.approx(87.6)
    assert r.runtime_s == 240 * 60


def test_checksum_error_drops_the_block_and_says_so() -> None:
    """A corrupted byte fails the checksum: the block is dropped and a 'checksum' problem raised."""
    good = encode_block(BMV)
    bad = bytearray(encode_block(BMV))
    bad[10] ^= 0x01
    out = FrameParser().feed(good + bytes(bad) + good)
    assert out[0] == dict(BMV) and out[2] == dict(BMV)
    assert isinstance(out[1], Problem) and out[1].kind == "checksum"


def test_hex_messages_are_skipped() -> None:
    """Interleaved ':...\\n' hex-protocol messages do not break or change a block."""
    block = encode_block(BMV)
    mixed = block[:20] + b":A0102000543\n" + block[20:]
    assert FrameParser().feed(mixed) == [dict(BMV)]


def test_split_across_reads() -> None:
    """A block that arrives one byte at a time is still parsed once."""
    parser = FrameParser()
    out = []
    for byte in encode_block(BMV) * 2:
        out += parser.feed(bytes([byte]))
    assert out == [dict(BMV), dict(BMV)]


def test_garbage_is_a_bad_frame() -> None:
    """An over-long label is a bad frame; the parser resynchronises on a later block."""
    parser = FrameParser()
    parser.feed(encode_block(BMV))
    out = parser.feed(b"\r\n" + b"X" * 40 + b"\t1" + encode_block(BMV) + encode_block(BMV))
    assert any(isinstance(x, Problem) and x.kind == "bad_frame" for x in out)
    assert out[-1] == dict(BMV)


def test_unsynchronised_monitor_values_are_rejected() -> None:
    """'---' before synchronisation and TTG -1 (infinite) become None with a reason."""
    frame = {**dict(BMV), "SOC": "---", "TTG": "-1"}
    r = reading_from_frame(frame, source="vedirect:/dev/x", at=0.0)
    assert r.soc is None and r.runtime_s is None
    assert any("SOC" in why for why in r.rejected)
    assert any("TTG" in why for why in r.rejected)
