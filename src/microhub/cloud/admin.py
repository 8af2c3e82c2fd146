"""Operator use cases of the cloud: organisations, enrollment tokens, stats, configuration."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from microhub.cloud.auth import token_hash
from microhub.cloud.store import CloudStore, Org
from microhub.domain.catalog import CatalogItem
from microhub.errors import ValidationError

__all__ = [
    "ENROLLMENT_TTL",
    "Enrollment",
    "NewOrg",
    "create_org",
    "enroll_hub",
    "hub_stats",
    "now_iso",
    "publish_catalog",
]

ENROLLMENT_TTL = timedelta(days=7)


def now_iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class NewOrg:
    org: Org
    admin_token: str  # shown once

    def to_json(self) -> dict[str, Any]:
        return {"org_id": self.org.org_id, "name": self.org.name, "admin_token": self.admin_token}


@dataclass(frozen=True, slots=True)
class Enrollment:
    org: Org
    name: str
    token: str  # shown once
    expires: str

    def to_json(self) -> dict[str, Any]:
        return {
            "org_id": self.org.org_id,
            "org": self.org.name,
            "name": self.name,
            "token": self.token,
            "expires": self.expires,
        }


def _name(value: str, field: str) -> str:
    text = value.strip()
    if not text or len(text) > 100:
        raise ValidationError(f"{field} must be 1-100 characters", field=field, value=value)
    return text


def create_org(store: CloudStore, *, name: str) -> NewOrg:
    token = "mha_" + secrets.token_urlsafe(32)
    org = store.create_org(
        org_id="org_" + secrets.token_hex(8),
        name=_name(name, "name"),
        admin_token_hash=token_hash(token),
        now=now_iso(),
    )
    return NewOrg(org, token)


def enroll_hub(store: CloudStore, *, org: str, name: str) -> Enrollment:
    found = store.find_org(ref=org)
    token = "mhe_" + secrets.token_urlsafe(32)
    expires = now_iso(datetime.now(UTC) + ENROLLMENT_TTL)
    store.add_enrollment(
        org_id=found.org_id,
        name=_name(name, "name"),
        token_hash=token_hash(token),
        expires=expires,
        now=now_iso(),
    )
    return Enrollment(found, name.strip(), token, expires)


def hub_stats(store: CloudStore, *, hub: str, org_id: str | None = None) -> dict[str, Any]:
    return store.stats(hub=store.find_hub(ref=hub, org_id=org_id))


def publish_catalog(store: CloudStore, *, org: str, items: Sequence[CatalogItem]) -> int:
    """Publish catalog rows (prices and tax rates included) for every hub of ``org``."""
    found = store.find_org(ref=org)
    body = json.dumps([item.to_json() for item in items], sort_keys=True)
    return store.publish_config(org_id=found.org_id, kind="catalog", body=body, now=now_iso())
