"""``microhub device`` and ``serve``/``demo`` as a user runs them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from hubdevice import PyDevice


def test_device_add_list_revoke(cli: Any, hub_dir: Path) -> None:
    """add prints a one-time code, URL and QR; list shows the device; revoke cuts it off."""
    human = cli("device", "add", "--data", str(hub_dir), "--name", "till 1", "--url",
                "http://127.0.0.1:9")  # fmt: skip
    assert human.exit_code == 0
    assert "#pair=" in human.stdout
    assert "█" in human.stdout or "▀" in human.stdout  # the terminal QR code
    added = cli("device", "add", "--data", str(hub_dir), "--name", "boss", "--role", "manager",
                "--json").json()  # fmt: skip
    assert added["device"]["role"] == "manager"
    assert added["url"].endswith(f"#pair={added['code']}")
    assert added["device"]["series"].startswith("D") and len(added["device"]["series"]) == 5
    again = cli("device", "add", "--data", str(hub_dir), "--name", "boss", "--json")
    assert again.exit_code == 2
    assert again.json()["error"]["code"] == "device_exists"
    listed = cli("device", "list", "--data", str(hub_dir), "--json").json()["devices"]
    assert [(d["name"], d["paired"]) for d in listed] == [("till 1", None), ("boss", None)]
    revoked = cli("device", "revoke", "boss", "--data", str(hub_dir), "--json").json()
    assert revoked["device"]["revoked"]
    missing = cli("device", "revoke", "nobody", "--data", str(hub_dir), "--json")
    assert missing.exit_code == 2
    assert missing.json()["error"]["code"] == "no_device"


def test_demo_serves_a_hub_with_a_manager_device_ready_to_pair(tmp_path: Path) -> None:
    """``microhub demo`` makes a demo hub, prints a pairing code and serves the point of sale."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "microhub", "demo", "--data", str(tmp_path / "demo"),
         "--host", "127.0.0.1", "--port", str(port), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.rstrip() == "}":
                break
        shown = json.loads("".join(lines))
        assert shown["pairing"]["device"]["role"] == "manager"
        url = f"http://127.0.0.1:{port}"
        assert shown["pairing"]["url"] == f"{url}/#pair={shown['pairing']['code']}"
        for _ in range(100):
            try:
                httpx.get(f"{url}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=url) as client:
            device = PyDevice()
            paired = device.pair(client, shown["pairing"]["code"])
            assert paired["device"]["name"] == "demo manager"
            catalog = client.get("/api/v1/catalog", headers=device.auth).json()
            assert len(catalog["items"]) == len(shown["items"])
            assert client.get("/").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode in (
        0,
        -signal.SIGTERM,
    )  # uvicorn re-raises the signal after a clean stop


def test_serve_refuses_a_folder_without_a_hub(cli: Any, tmp_path: Path) -> None:
    """serve on an empty folder exits 3 with a clear error instead of starting."""
    result = cli("serve", "--data", str(tmp_path / "none"), "--port", "9", "--json")
    assert result.exit_code == 3
    assert result.json()["error"]["code"] == "no_hub"
