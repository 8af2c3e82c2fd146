"""Fixtures for sync tests: cloud stores on SQLite and PostgreSQL, an embedded cloud, a joined hub."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from microhub.cloud import open_store
from microhub.cloud.admin import Enrollment, NewOrg, create_org, enroll_hub
from microhub.cloud.server import EmbeddedCloud
from microhub.cloud.store import CloudStore
from microhub.services.context import Hub
from microhub.services.sync import join

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def cloud_pg_url() -> Iterator[str]:
    """A PostgreSQL database of the cloud's own for this session, dropped afterwards."""
    name = f"microhub_cloud_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cloud.sqlite'}"
    return str(request.getfixturevalue("cloud_pg_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[CloudStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def cloud(store_url: str) -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(db=store_url) as running:
        yield running


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Joined:
    hub: Hub
    cloud: EmbeddedCloud
    org: NewOrg
    enrollment: Enrollment
    info: dict[str, Any]


def join_hub(hub: Hub, cloud: EmbeddedCloud, org: NewOrg | None = None) -> Joined:
    org = org or create_org(cloud.store, name=unique("org"))
    enrollment = enroll_hub(cloud.store, org=org.org.org_id, name=unique("stall"))
    info = asyncio.run(join(hub, cloud_url=cloud.url, token=enrollment.token))
    return Joined(hub, cloud, org, enrollment, info)


@pytest.fixture
def joined(hub: Hub, cloud: EmbeddedCloud) -> Joined:
    """The demo hub, joined to the embedded cloud."""
    return join_hub(hub, cloud)


@pytest.fixture
def make_joined() -> Any:
    """``make_joined(hub, cloud, org=None)``: join another hub."""
    return join_hub
