"""``microhub power watch`` as a real process while upsd freezes and comes back."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

SEQ = "".join(
    f"ups.status: OB DISCHRG\nbattery.charge: {c}\nups.realpower: 200\nTIMER 1\n"
    for c in range(100, 60, -1)
)


def read_until(proc: subprocess.Popen[str], want: Any, limit: float = 30) -> list[dict[str, Any]]:
    """JSON lines from the process's stdout until ``want(line)`` is true."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not sel.select(timeout=0.5):
            continue
        line = proc.stdout.readline()
        if not line:
            break
        item = json.loads(line)
        seen.append(item)
        if want(item):
            return seen
    raise AssertionError(f"never saw the expected line; got {seen[-5:]}")


def test_watch_survives_a_frozen_upsd(nut: Any) -> None:
    """The watch process reports the frozen UPS server as lost with a retry delay, then reads
    again after it resumes, and Ctrl-C ends it cleanly."""
    server = nut(SEQ)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "microhub",
            "power",
            "watch",
            "--source",
            server.url,
            "--json",
            "--poll",
            "0.3",
            "--timeout",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        read_until(proc, lambda x: "reading" in x)
        server.pause("upsd")
        lost = read_until(proc, lambda x: x.get("status") == "lost")[-1]
        assert "stopped answering" in lost["message"] or "did not accept" in lost["message"]
        assert lost["retry_in_s"] > 0
        server.resume("upsd")
        read_until(proc, lambda x: x.get("status") == "receiving")
        again = read_until(proc, lambda x: "reading" in x)[-1]
        assert again["reading"]["watts"] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, errors = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, errors = proc.communicate()
    assert proc.returncode == 0, errors
