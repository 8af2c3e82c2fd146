"""Readings: device sentinels are rejected, never passed on; URLs, backoff."""

from __future__ import annotations

import random

import pytest

from microhub.errors import ValidationError
from microhub.power.backoff import delay
from microhub.power.reading import Reading, number, sanitize
from microhub.power.sources import display_url, open_source
from microhub.power.sources.mqtt_json import reading_from_json


def test_runtime_65535_is_rejected() -> None:
    """A runtime of 65535 is the 'unknown' sentinel: dropped, with the reason kept."""
    r = sanitize(Reading(source="s", at=0, runtime_s=65535, watts=200))
    assert r.runtime_s is None and "65535" in r.rejected[0]


def test_runtime_zero_at_low_load_is_rejected_but_not_at_high_load() -> None:
    """Runtime 0 at a low load means 'cannot estimate'; at a real load it is kept."""
    assert sanitize(Reading(source="s", at=0, runtime_s=0, watts=5)).runtime_s is None
    assert sanitize(Reading(source="s", at=0, runtime_s=0, load_percent=2)).runtime_s is None
    assert sanitize(Reading(source="s", at=0, runtime_s=0, watts=300)).runtime_s == 0


def test_out_of_range_charge_is_rejected() -> None:
    """A charge outside 0..100 % is dropped."""
    assert sanitize(Reading(source="s", at=0, soc=120)).soc is None


@pytest.mark.parametrize("raw", ["---", "", "nan", None, "abc", float("inf"), True])
def test_blank_values(raw: object) -> None:
    """Placeholders and non-numbers are no value at all."""
    assert number(raw) is None


def test_json_payload() -> None:
    """A JSON payload becomes a reading; '---' fields are rejected; non-objects are problems."""
    r = reading_from_json(b'{"soc": 71, "watts": 120, "volts": "---"}', source="s", at=0)
    assert isinstance(r, Reading) and r.soc == 71 and r.watts == 120 and r.volts is None
    assert r.rejected
    bad = reading_from_json(b"[1, 2]", source="s", at=0)
    assert not isinstance(bad, Reading) and bad.kind == "bad_payload"


def test_password_never_shown() -> None:
    """The printable form of a source URL hides the password."""
    shown = display_url("mqtt://user:secret@127.0.0.1:1883/json/a")
    assert "secret" not in shown and "user:***@127.0.0.1:1883" in shown


@pytest.mark.parametrize(
    "url",
    ["ftp://x/y", "mqtt://127.0.0.1/other/x", "nut://127.0.0.1:3493/", "mqtt://127.0.0.1/venus/"],
)
def test_bad_source_urls(url: str) -> None:
    """Unknown schemes and incomplete URLs are a ValidationError on field 'source'."""
    with pytest.raises(ValidationError) as info:
        open_source(url)
    assert info.value.field == "source"


def test_backoff_grows_and_is_capped() -> None:
    """Backoff delays stay within an exponentially growing ceiling, capped at max_s."""
    rng = random.Random(1)
    for attempt in range(1, 12):
        d = delay(attempt, rng=rng, initial_s=0.5, max_s=4)
        assert 0.05 <= d <= min(4, 0.5 * 2 ** (attempt - 1))
