"""`microhub serve` runs the hub's background work from its settings: a real server process records
battery telemetry from a real MQTT broker and shuts down cleanly."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx

from microhub.settings import load_settings, write_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _telemetry(hub_dir: Path) -> int:
    conn = sqlite3.connect(hub_dir / "hub.sqlite")
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM outbox WHERE lane = 'telemetry'").fetchone()[0]
        )
    finally:
        conn.close()


def test_serve_records_power_readings_from_its_settings(hub_dir: Path) -> None:
    """With `power_source` set, serve subscribes to the monitor, stores readings on the telemetry
    lane while answering HTTP, and shuts down cleanly on SIGTERM."""
    topic = f"microhub-test/{uuid.uuid4().hex}"
    settings = load_settings(hub_dir)
    write_settings(replace(settings, power_source=f"mqtt://127.0.0.1:1883/json/{topic}"))
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "microhub",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data",
            str(hub_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        soc = 90
        while time.monotonic() < deadline and _telemetry(hub_dir) == 0:
            subprocess.run(
                [
                    "mosquitto_pub",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    "1883",
                    "-t",
                    topic,
                    "-m",
                    f'{{"soc": {soc}, "watts": 120, "volts": 12.9}}',
                ],
                check=True,
            )
            soc -= 1
            time.sleep(0.5)
        assert _telemetry(hub_dir) > 0
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells the signal.
    assert proc.returncode in (0, -signal.SIGTERM), stderr.decode()[-2000:]
    assert b"Traceback" not in stderr, stderr.decode()[-2000:]
