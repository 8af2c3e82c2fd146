"""The main job: `microhub demo` serves a hub joined to an embedded cloud; sales reach the cloud,
queue during a simulated outage (SIGUSR1) and catch up when the link returns."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _ports() -> int:
    """A port P with P, P+1 and P+2 free on loopback."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base > 60000:
            continue
        try:
            for offset in (1, 2):
                with socket.socket() as t:
                    t.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no three consecutive free ports")


def _wait(predicate: Any, timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


def test_demo_syncs_to_its_cloud_and_catches_up_after_an_outage(cli: Any, tmp_path: Path) -> None:
    """A sale made during a simulated outage waits on the hub, then reaches the cloud exactly
    once after the link returns; the cloud verifies the chain."""
    folder = tmp_path / "demo"
    port = _ports()
    proc = subprocess.Popen(
        [sys.executable, "-m", "microhub", "demo", "--data", str(folder), "--host", "127.0.0.1",
         "--port", str(port), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.rstrip() == "}":
                break
        shown = json.loads("".join(lines))
        db = shown["cloud"]["db"]
        hub_id = shown["cloud"]["stats"].split("--hub ")[1].split()[0]
        d = ["--data", str(folder), "--json"]

        def money_in_cloud() -> int:
            stats = cli("cloud", "stats", "--hub", hub_id, "--db", db, "--json")
            if stats.exit_code != 0:
                return 0
            return int(stats.json()["events_by_type"].get("sale.recorded", 0))

        def pending_money() -> int:
            return int(cli("sync", "status", *d).json()["lanes"]["money"]["pending"])

        first = cli("sell", "--item", "LATTE", "--pay", "cash", *d)
        assert first.exit_code == 0
        _wait(lambda: money_in_cloud() == 1)

        os.kill(proc.pid, signal.SIGUSR1)  # cut the link
        time.sleep(1)
        cli("sell", "--item", "BAO", "--pay", "tap", "--ref", "T-9", *d)
        time.sleep(8)  # more than one sync interval with the link down
        assert pending_money() >= 1
        assert money_in_cloud() == 1

        os.kill(proc.pid, signal.SIGUSR1)  # restore it
        _wait(lambda: money_in_cloud() == 2 and pending_money() == 0)
        stats = cli("cloud", "stats", "--hub", hub_id, "--db", db, "--json").json()
        assert stats["missing"] == 0
        assert stats["alarms"] == 0
        assert stats["verification"]["ok"] is True
        assert [s["head_seq"] for s in stats["series"]] == [3]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Traceback" not in err, err[-2000:]
