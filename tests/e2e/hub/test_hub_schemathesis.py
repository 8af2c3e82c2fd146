"""Schemathesis fuzzes every operation in the hub's /openapi.json, authenticated: never a 5xx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubserver import HubServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "hub"))
from hubdevice import PyDevice

ST = Path(sys.executable).parent / "st"


@pytest.fixture
def served(hub_dir: Path) -> Iterator[HubServer]:
    server = HubServer(hub_dir).start()
    yield server
    server.stop()


@pytest.mark.skipif(not ST.exists(), reason="needs schemathesis")
def test_schemathesis_finds_no_server_error(
    served: HubServer, hub_dir: Path, cli: Any, tmp_path: Path
) -> None:
    """Generated requests to every operation, with a manager's credential, never get a 5xx, and
    every answer has a documented status, content type and schema."""
    added = cli("device", "add", "--data", str(hub_dir), "--name", "boss", "--role", "manager",
                "--json").json()  # fmt: skip
    device = PyDevice()
    with httpx.Client(base_url=served.url) as client:
        device.pair(client, added["code"])
        assert device.upload(client, [device.start()]).status_code == 200
        assert client.post("/api/v1/pin", headers=device.auth, json={"pin": "1234"}).is_success
    run = subprocess.run(
        [str(ST), "run", f"{served.url}/openapi.json", "-H", f"Authorization: Bearer {device.token}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance", "--max-examples", "30", "--seed", "20261204",
         "--request-timeout", "20", "--no-color"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:]
    assert "Server error" not in run.stdout
