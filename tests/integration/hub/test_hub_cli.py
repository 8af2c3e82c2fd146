"""``microhub device`` and ``serve``/``demo`` as a user runs them."""

from __future__ import annotations

import json
import signal
import socket
import ssl
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


def _self_signed(folder: Path) -> tuple[Path, Path]:
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_speaks_https_with_a_certificate(hub_dir: Path, tmp_path: Path) -> None:
    """With --tls-cert/--tls-key the hub serves HTTPS, which phones need for the offline app."""
    cert, key = _self_signed(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "microhub", "serve", "--data", str(hub_dir), "--host",
         "127.0.0.1", "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                response = httpx.get(
                    f"https://127.0.0.1:{port}/api/v1/health",
                    verify=ssl.create_default_context(cafile=str(cert)),
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.json() == {"ok": True}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
