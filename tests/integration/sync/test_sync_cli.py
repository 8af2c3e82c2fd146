"""The sync and cloud commands end to end through the CLI, against a cloud on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from microhub.cloud.server import EmbeddedCloud


def test_org_enroll_join_sync_status_stats(cli: Any, hub_dir: Path, tmp_path: Path) -> None:
    """org create → hub enroll → join → sell → sync --once → status and stats agree."""
    db = f"sqlite:///{tmp_path / 'cloud.sqlite'}"
    org = cli("cloud", "org", "create", "Night Market", "--db", db, "--json").json()
    assert org["admin_token"].startswith("mha_")
    again = cli("cloud", "org", "create", "Night Market", "--db", db, "--json")
    assert again.exit_code == 2 and again.json()["error"]["code"] == "org_exists"
    token = cli(
        "cloud", "hub", "enroll", "--org", "Night Market", "--name", "stall-7", "--db", db, "--json"
    ).json()["token"]
    data = ["--data", str(hub_dir)]
    assert cli("sync", "status", "--json", *data).json() == {"joined": False}
    assert cli("sync", "--once", "--json", *data).exit_code == 3  # not joined yet
    with EmbeddedCloud(db=db) as cloud:
        joined = cli("join", cloud.url, token, "--json", *data)
        assert joined.exit_code == 0, joined.stdout
        reused = cli("join", cloud.url, token, "--json", *data)
        assert reused.json()["error"]["code"] == "already_joined"
        assert cli("sell", "--item", "COFFEE", "--pay", "cash", *data).exit_code == 0
        synced = cli("sync", "--once", "--json", *data).json()
        assert synced["drained"] and synced["pushed"]["money"] == 2
    status = cli("sync", "status", "--json", *data).json()
    assert status["pending"] == 0 and status["failures"] == 0 and status["anchors"] == 1
    stats = cli("cloud", "stats", "--hub", "stall-7", "--db", db, "--json").json()
    assert stats["events_by_type"] == {"sale.recorded": 1, "series.started": 1}
    assert stats["verification"]["ok"] and stats["duplicates_refused"] == 0
    offline = cli("sync", "--once", "--json", *data)  # the cloud is gone now
    assert offline.exit_code == 4 and offline.json()["error"]["code"] == "cloud_unreachable"
    assert cli("sync", "status", "--json", *data).json()["failures"] == 1


def test_cloud_commands_refuse_a_bad_database_url(cli: Any) -> None:
    """An unsupported --db URL is a clear error naming the field, exit 3."""
    result = cli("cloud", "org", "create", "x", "--db", "mysql://nope", "--json")
    assert result.exit_code == 3
    assert result.json()["error"]["code"] == "bad_db_url"
