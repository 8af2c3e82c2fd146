"""Unit tests for backup target URLs, TTLs and backup file names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from microhub.errors import ValidationError
from microhub.vault.targets import FolderTarget, S3Target, backup_name, parse_target, parse_ttl


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("48h", timedelta(hours=48)), ("7d", timedelta(days=7))],
)
def test_ttl_units(text: str, expected: timedelta) -> None:
    """A TTL is a number with m, h or d."""
    assert parse_ttl(text) == expected


@pytest.mark.parametrize("bad", ["", "0h", "1w", "h", "-3d", "1.5h"])
def test_bad_ttl_names_the_field(bad: str) -> None:
    """Anything else is refused with field ttl."""
    with pytest.raises(ValidationError) as err:
        parse_ttl(bad)
    assert err.value.field == "ttl"


def test_target_urls(tmp_path: Path) -> None:
    """Folders (plain or file://) and s3:// URLs pick their adapter and TTL."""
    folder = parse_target(f"{tmp_path}?ttl=2d", default_ttl=None)
    assert isinstance(folder.target, FolderTarget) and folder.ttl == timedelta(days=2)
    assert parse_target(f"file://{tmp_path}", default_ttl=timedelta(hours=1)).ttl == timedelta(
        hours=1
    )
    s3 = parse_target("s3://bucket/a/b?endpoint=http://127.0.0.1:1", default_ttl=None)
    assert isinstance(s3.target, S3Target) and s3.target.url == "s3://bucket/a/b"
    for bad in ("s3:///x", "ftp://host/x"):
        with pytest.raises(ValidationError):
            parse_target(bad, default_ttl=None)


def test_backup_names_sort_by_time_and_parse_back(tmp_path: Path) -> None:
    """Backup names carry the hub id and a UTC time that listing parses back."""
    hub_id = "01a241d7-e4f9-76f4-b0fa-51e043923012"
    when = datetime(2026, 12, 4, 16, 0, 0, 123456, tzinfo=UTC)
    name = backup_name(hub_id, when)
    assert name == f"microhub-{hub_id}-20261204T160000123456Z.age"
    (tmp_path / name).write_bytes(b"x")
    (tmp_path / "other.age").write_bytes(b"x")
    listed = FolderTarget(tmp_path).list()
    assert [(s.name, s.hub_id, s.created) for s in listed] == [(name, hub_id, when)]
