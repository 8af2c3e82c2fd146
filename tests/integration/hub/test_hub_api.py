"""The hub API in-process (real app, real SQLite file): pairing, credentials, ingest, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hubdevice import PyDevice, b64url

from microhub.bootstrap import open_hub
from microhub.domain.catalog import CatalogItem
from microhub.hub import create_app
from microhub.services import devices as device_service
from microhub.store import catalog as catalog_store


@pytest.fixture
def client(hub_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(hub_dir)) as test_client:
        yield test_client


def _code(hub_dir: Path, name: str = "till", role: str = "cashier", **kw: Any) -> str:
    hub = open_hub(hub_dir)
    try:
        return device_service.add_device(hub, name=name, role=role, **kw).code
    finally:
        hub.close()


def _items(hub_dir: Path) -> dict[str, CatalogItem]:
    hub = open_hub(hub_dir)
    try:
        return {i.sku: i for i in catalog_store.list_items(hub.db.connection)}
    finally:
        hub.close()


def _paired(client: TestClient, hub_dir: Path, *, alg: str = "ed25519", **kw: Any) -> PyDevice:
    device = PyDevice(alg=alg)
    device.pair(client, _code(hub_dir, **kw))
    response = device.upload(client, [device.start()])
    assert response.status_code == 200, response.text
    return device


def _snapshot(hub_dir: Path) -> dict[str, Any]:
    import sqlite3

    with closing(sqlite3.connect(hub_dir / "hub.sqlite")) as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("journal", "outbox", "walkins", "device_rejects", "keys", "series")
        } | {"stock": conn.execute("SELECT SUM(COALESCE(stock, 0)) FROM catalog").fetchone()[0]}


def _error(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"])


@pytest.mark.parametrize("alg", ["ed25519", "es256"])
def test_device_records_are_ingested_once_and_verify(
    client: TestClient, hub_dir: Path, cli_proc: Any, alg: str
) -> None:
    """A paired device's signed sales are journaled in its series once, replays are duplicates."""
    device = _paired(client, hub_dir, alg=alg)
    items = _items(hub_dir)
    sales = [device.sale([(items["LATTE"], 2), (items["CAKE"], 1)]) for _ in range(3)]
    first = device.upload(client, sales)
    assert first.status_code == 200
    assert [r["status"] for r in first.json()["results"]] == ["accepted"] * 3
    again = device.upload(client, device.records)
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 4
    assert again.json()["head_seq"] == 4
    verify = cli_proc("verify", "--data", str(hub_dir), "--json")
    assert verify.exit_code == 0, verify.stdout
    assert {s["series"]: s["records"] for s in json.loads(verify.stdout)["series"]}[
        device.series
    ] == 4


def test_pairing_codes_work_once_and_expire(client: TestClient, hub_dir: Path) -> None:
    """A pairing code pairs one device once; a reused or expired code is refused."""
    code = _code(hub_dir)
    PyDevice().pair(client, code)
    again = client.post(
        "/api/v1/pair", json={"code": code, "alg": "ed25519", "public_key": "ab" * 32}
    )
    assert again.status_code == 400
    assert _error(again)["code"] == "bad_pairing_code"
    old = _code(hub_dir, name="late", now=datetime.now(UTC) - timedelta(hours=1))
    expired = client.post(
        "/api/v1/pair",
        json={"code": old, "alg": "ed25519", "public_key": PyDevice().public_raw.hex()},
    )
    assert expired.status_code == 400
    assert "expired" in _error(expired)["message"]


WRITES = [
    ("/api/v1/records", {"sent_at": "2026-01-01T00:00:00Z", "records": []}),
    ("/api/v1/walkins", {"walkins": []}),
    ("/api/v1/refunds", {"receipt": "HUB-1"}),
    ("/api/v1/voids", {"receipt": "HUB-1"}),
    ("/api/v1/pin", {"pin": "1234"}),
]


def test_every_write_endpoint_refuses_missing_and_revoked_credentials(
    client: TestClient, hub_dir: Path
) -> None:
    """Each POST except pairing needs a valid device credential; a revoked one is refused."""
    posts = {
        route.path
        for route in client.app.routes  # type: ignore[attr-defined]
        if "POST" in getattr(route, "methods", set()) and route.path != "/api/v1/pair"
    }
    assert posts == {path for path, _ in WRITES}
    device = _paired(client, hub_dir, role="manager")
    hub = open_hub(hub_dir)
    device_service.revoke_device(hub, name="till")
    hub.close()
    before = _snapshot(hub_dir)
    for path, body in WRITES:
        missing = client.post(path, json=body)
        assert missing.status_code == 401, path
        assert _error(missing)["code"] == "missing_credential"
        forged = client.post(path, json=body, headers={"Authorization": "Bearer nope"})
        assert _error(forged)["code"] == "bad_credential"
        revoked = client.post(path, json=body, headers=device.auth)
        assert revoked.status_code == 401, path
        assert _error(revoked)["code"] == "device_revoked"
    assert _snapshot(hub_dir) == before
    listed = client.app.state.hub.db.connection.execute(  # type: ignore[attr-defined]
        "SELECT refused_after_revoke FROM devices"
    ).fetchone()[0]
    assert listed == len(WRITES)


def _resign(device: PyDevice, record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The record with ``changes`` applied to its body, re-hashed and re-signed by ``device``."""
    from microhub.domain.canonical import canonical, sha256_hex
    from microhub.domain.journal import summary

    body = {**record["body"], **changes}
    digest = sha256_hex(canonical(body))
    return {
        "body": body,
        "hash": digest,
        "signature": b64url(device.sign(summary(body, digest).encode())),
    }


def _bad_cases(device: PyDevice, items: dict[str, CatalogItem]) -> list[Any]:
    sale = device.sale([(items["LATTE"], 1)])
    device.records.pop()
    lines = [dict(line) for line in sale["body"]["lines"]]
    negative = [{**lines[0], "qty": -1, "amount": -lines[0]["unit"]}]
    other = PyDevice()
    forged = {**sale, "signature": b64url(other.sign(b"anything"))}
    start_sig = device.records[0]["signature"]
    return [
        ("negative quantity", [_resign(device, sale, lines=negative)], 422, "invalid_record",
         "records[0].body.lines[0].qty"),
        ("wrong currency", [_resign(device, sale, currency="USD")], 422, "wrong_currency",
         "records[0].body.currency"),
        ("forged signature", [forged], 422, "bad_signature", "records[0].signature"),
        ("replayed signature", [{**sale, "signature": start_sig}], 422, "bad_signature",
         "records[0].signature"),
        ("float amount", [_resign(device, sale, gross=4.5)], 422, "invalid_record",
         "records[0].body.gross"),
        ("totals that do not add up", [_resign(device, sale, gross=sale["body"]["gross"] + 1)],
         422, "totals_mismatch", "records[0].body.totals"),
        ("broken chain", [_resign(device, sale, prev="1" * 64)], 422, "broken_chain",
         "records[0].body.prev"),
        ("same seq, other content", [_resign(device, device.records[0], time="2026-01-01T00:00:00.000Z")],
         409, "conflicting_record", "records[0].body.seq"),
        ("skipped numbers", [_resign(device, sale, seq=9)], 409, "gap", "records[0].body.seq"),
        ("refund from a device", [_resign(device, sale, type="refund")], 422,
         "unsupported_record_type", "records[0].body.type"),
        ("hash mismatch", [{**sale, "hash": "0" * 64}], 422, "hash_mismatch", "records[0].hash"),
    ]  # fmt: skip


def test_bad_device_records_get_a_4xx_naming_code_and_field_and_change_nothing(
    client: TestClient, hub_dir: Path
) -> None:
    """Forged, replayed, malformed or inconsistent records are refused with code and field."""
    device = _paired(client, hub_dir)
    items = _items(hub_dir)
    for name, records, status, code, field in _bad_cases(device, items):
        before = _snapshot(hub_dir)
        response = client.post(
            "/api/v1/records",
            headers=device.auth,
            json={"sent_at": datetime.now(UTC).isoformat(), "records": records},
        )
        assert response.status_code == status, (name, response.text)
        error = _error(response)
        assert (error["code"], error["field"]) == (code, field), name
        assert _snapshot(hub_dir) == before, name


def test_bad_requests_get_a_4xx_with_a_machine_readable_code(
    client: TestClient, hub_dir: Path
) -> None:
    """Oversized and malformed bodies, unknown skus and negative quantities are refused cleanly."""
    device = _paired(client, hub_dir, role="manager")
    before = _snapshot(hub_dir)
    huge = client.post("/api/v1/walkins", headers=device.auth, content=b"{" + b" " * 300_000 + b"}")
    assert huge.status_code == 413
    assert _error(huge)["code"] == "body_too_large"
    malformed = client.post(
        "/api/v1/walkins",
        headers={**device.auth, "Content-Type": "application/json"},
        content=b'{"walkins": [',
    )
    assert malformed.status_code == 400
    assert _error(malformed)["code"] == "malformed_json"
    sale = device.upload(client, [device.sale([(_items(hub_dir)["LATTE"], 1)])])
    number = f"{device.series}-{sale.json()['results'][0]['seq']}"
    before = _snapshot(hub_dir)
    unknown = client.post(
        "/api/v1/refunds",
        headers=device.auth,
        json={"receipt": number, "items": [{"sku": "NOPE", "qty": 1}]},
    )
    assert unknown.status_code == 422
    assert (_error(unknown)["code"], _error(unknown)["field"]) == ("not_on_receipt", "items")
    negative = client.post(
        "/api/v1/refunds",
        headers=device.auth,
        json={"receipt": number, "items": [{"sku": "LATTE", "qty": -2}]},
    )
    assert negative.status_code == 422
    assert _error(negative)["field"] == "items[0].qty"
    too_much = client.post(
        "/api/v1/refunds",
        headers=device.auth,
        json={"receipt": number, "items": [{"sku": "LATTE", "qty": 2}]},
    )
    assert _error(too_much)["code"] == "refund_exceeds_sale"
    assert _snapshot(hub_dir) == before


def test_a_device_clock_hours_off_is_refused_and_its_skew_recorded(
    client: TestClient, hub_dir: Path
) -> None:
    """An upload whose clock is hours off is refused (clock_skew, sent_at); the skew is kept."""
    device = _paired(client, hub_dir)
    sale = device.sale([(_items(hub_dir)["LATTE"], 1)])
    before = _snapshot(hub_dir)
    late = device.upload(client, [sale], sent_at=datetime.now(UTC) + timedelta(hours=3))
    assert late.status_code == 422
    error = _error(late)
    assert (error["code"], error["field"]) == ("clock_skew", "sent_at")
    assert error["skew_ms"] > 3 * 3600 * 1000 - 60_000
    assert _snapshot(hub_dir) == before
    conn = client.app.state.hub.db.connection  # type: ignore[attr-defined]
    assert conn.execute("SELECT skew_ms FROM devices").fetchone()[0] > 3 * 3600 * 1000 - 60_000
    assert conn.execute("SELECT COUNT(*) FROM device_skew").fetchone()[0] >= 2
    future = device.sale(
        [(_items(hub_dir)["LATTE"], 1)], time=datetime.now(UTC) + timedelta(hours=2)
    )
    device.records.pop()
    refused = device.upload(client, [future])
    assert _error(refused)["code"] == "future_time"


def test_business_issues_are_journaled_flagged_and_do_not_block_later_records(
    client: TestClient, hub_dir: Path, cli_proc: Any
) -> None:
    """A signed sale of an unknown sku at a stale price is kept, flagged for the manager, and the
    records behind it are accepted."""
    device = _paired(client, hub_dir, role="manager")
    items = _items(hub_dir)
    ghost = CatalogItem(sku="GONE", name="Old item", price=300, tax_rate_bp=1900)
    stale = CatalogItem(**{**items["LATTE"].to_json(), "price": 999, "tags": ()})
    response = device.upload(
        client,
        [device.sale([(ghost, 1)]), device.sale([(stale, 1)]), device.sale([(items["CAKE"], 1)])],
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * 3
    assert [i["code"] for i in results[0]["issues"]] == ["unknown_sku"]
    assert [i["code"] for i in results[1]["issues"]] == ["price_mismatch"]
    assert results[2]["issues"] == []
    flagged = client.get("/api/v1/rejects", headers=device.auth).json()["rejects"]
    assert sorted((r["seq"], r["code"]) for r in flagged) == [
        (2, "unknown_sku"),
        (3, "price_mismatch"),
    ]
    assert cli_proc("verify", "--data", str(hub_dir)).exit_code == 0


def test_refunds_need_a_manager_or_a_rate_limited_manager_pin(
    client: TestClient, hub_dir: Path
) -> None:
    """A cashier refunds only with a manager's PIN; wrong PINs lock the cashier's phone out."""
    manager = _paired(client, hub_dir, role="manager", name="boss")
    cashier = _paired(client, hub_dir, role="cashier", name="till")
    items = _items(hub_dir)
    upload = cashier.upload(client, [cashier.sale([(items["CAKE"], 3)])])
    number = f"{cashier.series}-{upload.json()['results'][0]['seq']}"
    assert client.post("/api/v1/pin", headers=cashier.auth, json={"pin": "1234"}).status_code == 403
    assert client.post("/api/v1/pin", headers=manager.auth, json={"pin": "4321"}).status_code == 200
    plain = client.post("/api/v1/refunds", headers=cashier.auth, json={"receipt": number})
    assert (plain.status_code, _error(plain)["code"]) == (403, "forbidden_role")
    refund = {"receipt": number, "items": [{"sku": "CAKE", "qty": 1}]}
    ok = client.post(
        "/api/v1/refunds",
        headers=cashier.auth,
        json={**refund, "approval": {"manager": "boss", "pin": "4321"}},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["approved_by"] == "boss"
    assert ok.json()["receipt"]["ref"] == number
    for attempt in range(device_service.PIN_MAX_FAILURES):
        wrong = client.post(
            "/api/v1/refunds",
            headers=cashier.auth,
            json={**refund, "approval": {"manager": "boss", "pin": "0000"}},
        )
        assert _error(wrong)["code"] == "bad_pin", attempt
    locked = client.post(
        "/api/v1/refunds",
        headers=cashier.auth,
        json={**refund, "approval": {"manager": "boss", "pin": "4321"}},
    )
    assert (locked.status_code, _error(locked)["code"]) == (429, "pin_locked")
    direct = client.post("/api/v1/refunds", headers=manager.auth, json=refund)
    assert direct.status_code == 200
    assert direct.json()["receipt"]["series"] == "HUB"
    conn = client.app.state.hub.db.connection  # type: ignore[attr-defined]
    notes = [
        json.loads(p)
        for (p,) in conn.execute("SELECT payload FROM outbox WHERE type = 'refund.approved'")
    ]
    assert [(n["requested_by"], n["approved_by"], n["with_pin"]) for n in notes] == [
        ("till", "boss", True),
        ("boss", "boss", False),
    ]


def test_walkins_are_idempotent_and_give_conversion_by_hour(
    client: TestClient, hub_dir: Path
) -> None:
    """Walk-ins counted twice (a replay) are stored once; conversion divides sales by walk-ins."""
    device = _paired(client, hub_dir)
    now = datetime.now(UTC)
    walkins = [{"id": f"walkin{i:04d}", "time": now.isoformat(), "count": 1} for i in range(4)]
    first = client.post("/api/v1/walkins", headers=device.auth, json={"walkins": walkins})
    again = client.post("/api/v1/walkins", headers=device.auth, json={"walkins": walkins})
    assert first.json() == {"stored": 4, "duplicates": 0}
    assert again.json() == {"stored": 0, "duplicates": 4}
    device.upload(client, [device.sale([(_items(hub_dir)["LATTE"], 1)])])
    hours = client.get("/api/v1/kpi/conversion", headers=device.auth).json()["hours"]
    assert [(h["walkins"], h["sales"], h["conversion"]) for h in hours] == [(4, 1, 0.25)]


def test_catalog_has_a_version_for_cache_busting(client: TestClient, hub_dir: Path) -> None:
    """The catalog answers 304 to its own version and a new version after a price change."""
    device = _paired(client, hub_dir)
    first = client.get("/api/v1/catalog", headers=device.auth)
    version = first.json()["version"]
    same = client.get("/api/v1/catalog", headers={**device.auth, "If-None-Match": f'"{version}"'})
    assert same.status_code == 304
    hub = client.app.state.hub  # type: ignore[attr-defined]
    with hub.db.write() as conn:
        conn.execute("UPDATE catalog SET price = price + 10 WHERE sku = 'LATTE'")
    assert client.get("/api/v1/catalog", headers=device.auth).json()["version"] != version


@pytest.mark.parametrize("defect", ["signature", "chain"])
def test_a_refused_record_keeps_the_ones_before_it_and_stops_the_ones_after(
    client: TestClient, hub_dir: Path, defect: str
) -> None:
    """In a batch, records before a refused one are stored; it and those after it are not."""
    device = _paired(client, hub_dir)
    items = _items(hub_dir)
    batch = [device.sale([(items["LATTE"], 1)]) for _ in range(5)]
    if defect == "signature":
        batch[2] = {**batch[2], "signature": batch[1]["signature"]}
    else:
        batch[2] = _resign(device, batch[2], prev="2" * 64)
    response = device.upload(client, batch)
    assert response.status_code == 422
    error = _error(response)
    assert error["field"].startswith("records[2].")
    assert error["accepted_through"] == 3  # seq 1 is the start record, then two sales
    stored = client.get(f"/api/v1/receipts/{device.series}-3", headers=device.auth)
    assert stored.status_code == 200
    assert client.get(f"/api/v1/receipts/{device.series}-4", headers=device.auth).status_code == 404
