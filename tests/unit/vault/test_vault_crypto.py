"""Unit tests for the vault's key file, field encryption, blind index and consent rules."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microhub.errors import ConfigurationError, ValidationError
from microhub.vault import consent, keys, people


def test_key_file_is_owner_only_and_round_trips(tmp_path: Path) -> None:
    """The embedded key file is mode 0600 and loads back to the same key id."""
    key = keys.create_hub_key_file(tmp_path)
    mode = stat.S_IMODE((tmp_path / keys.HUB_KEY_FILE).stat().st_mode)
    assert mode == 0o600
    loaded = keys.load_hub_key(tmp_path, passphrase=None, expect_id=key.key_id)
    assert loaded.secret == key.secret
    assert key.secret.hex() not in repr(key)


def test_passphrase_wrapping_refuses_a_wrong_passphrase(tmp_path: Path) -> None:
    """An Argon2id-wrapped key opens with its passphrase and refuses another one."""
    key = keys.new_hub_key()
    keys.write_hub_key_file(tmp_path, key, passphrase="correct horse")
    text = (tmp_path / keys.HUB_KEY_FILE).read_text()
    assert key.secret.hex() not in text
    assert keys.read_key_file_info(tmp_path)["kdf"]["alg"] == "argon2id"
    assert keys.load_hub_key(tmp_path, passphrase="correct horse", expect_id=None) == key
    with pytest.raises(ValidationError) as err:
        keys.load_hub_key(tmp_path, passphrase="wrong horse!", expect_id=None)
    assert err.value.code == "wrong_passphrase"
    with pytest.raises(ConfigurationError) as missing:
        keys.load_hub_key(tmp_path, passphrase=None, expect_id=None)
    assert missing.value.code == "passphrase_required"


def test_interrupted_rotation_uses_the_key_the_database_names(tmp_path: Path) -> None:
    """A pending hub.key.next is promoted when the database names it and dropped otherwise."""
    old = keys.create_hub_key_file(tmp_path)
    new = keys.new_hub_key()
    keys.write_hub_key_file(tmp_path, new, next_=True)
    assert keys.load_hub_key(tmp_path, passphrase=None, expect_id=old.key_id) == old
    assert not (tmp_path / "hub.key.next").exists()
    keys.write_hub_key_file(tmp_path, new, next_=True)
    assert keys.load_hub_key(tmp_path, passphrase=None, expect_id=new.key_id) == new
    assert keys.load_hub_key(tmp_path, passphrase=None, expect_id=new.key_id) == new


@settings(max_examples=50, deadline=None)
@given(value=st.text(max_size=200), person=st.uuids())
def test_fields_round_trip_and_are_bound_to_person_and_field(value: str, person: object) -> None:
    """A sealed field opens only with the same person id and field name."""
    key = b"k" * 32
    sealed = people.seal_field(key, str(person), "name", value)
    assert people.open_field(key, str(person), "name", sealed) == value
    assert people.open_field(key, str(person), "email", sealed) is None
    assert people.open_field(key, "someone-else", "name", sealed) is None


def test_wrapped_person_key_needs_the_same_hub_key() -> None:
    """A person key wrapped by one hub key cannot be unwrapped by another."""
    a, b = keys.new_hub_key(), keys.new_hub_key()
    wrapped = people.wrap_person_key(a, "p1", b"x" * 32)
    assert people.unwrap_person_key(a, "p1", wrapped) == b"x" * 32
    assert people.unwrap_person_key(b, "p1", wrapped) is None
    assert people.unwrap_person_key(a, "p2", wrapped) is None


def test_blind_index_is_keyed() -> None:
    """The same email gives different index values under different hub keys."""
    a, b = keys.new_hub_key(), keys.new_hub_key()
    assert people.blind_index(a, "email", "x@y.org") == people.blind_index(a, "email", "x@y.org")
    assert people.blind_index(a, "email", "x@y.org") != people.blind_index(b, "email", "x@y.org")


@pytest.mark.parametrize("bad", ["", "plain", "a@b", "a b@c.org", "@c.org", "a@.org", "a@c..org"])
def test_not_an_email_is_refused_without_echoing_it(bad: str) -> None:
    """Malformed emails raise a ValidationError that does not repeat the value."""
    with pytest.raises(ValidationError) as err:
        people.normalise_email(bad)
    assert err.value.field == "email"
    assert err.value.value is None


def test_withdraw_wins_ties_and_latest_wins() -> None:
    """decide(): the latest event wins; at the same second a withdrawal beats a grant."""
    grant = consent.ConsentEvent("g", "analytics", "grant", 100)
    withdraw = consent.ConsentEvent("w", "analytics", "withdraw", 100)
    regrant = consent.ConsentEvent("g2", "analytics", "grant", 101)
    assert consent.decide([grant], purpose="analytics") == grant
    assert consent.decide([grant, withdraw], purpose="analytics") is None
    assert consent.decide([withdraw, grant], purpose="analytics") is None
    assert consent.decide([grant, withdraw, regrant], purpose="analytics") == regrant
    assert consent.decide([grant], purpose="marketing") is None


def test_unknown_purpose_is_refused() -> None:
    """An unknown purpose names the field and the allowed values."""
    with pytest.raises(ValidationError) as err:
        consent.check_purpose("spam")
    assert err.value.code == "unknown_purpose"
    assert "analytics" in err.value.message
