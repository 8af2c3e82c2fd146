"""Crash safety: SIGKILL in the middle of a burst of sales loses nothing acknowledged and leaves
no gap, no half-written record and a journal that verifies."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

BURST = """
import sys
from microhub.bootstrap import open_hub
from microhub.services import sales
hub = open_hub(__import__("pathlib").Path(sys.argv[1]))
while True:
    r = sales.sell(hub, items=[sales.ItemRequest("COFFEE"), sales.ItemRequest("CAKE", 2)],
                   payments=[sales.PaymentRequest("cash")])
    print(r.draft.seq, flush=True)
"""


def _kill_after(hub_dir: Path, acknowledged: int) -> list[int]:
    """Run a selling loop, SIGKILL it once ``acknowledged`` sales were reported committed."""
    seen: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", BURST, str(hub_dir)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(int(line))
            if len(seen) >= acknowledged:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        seen.extend(int(line) for line in proc.stdout.read().split())
    return seen


def test_sigkill_during_a_burst_loses_nothing(cli: Any, hub_dir: Path) -> None:
    """Three bursts killed mid-flight: every acknowledged sale is there, seqs are 1..N without
    gaps, outbox hub_seq is gapless with one event per record, and verify passes."""
    acknowledged: list[int] = []
    for count in (40, 75, 20):
        acknowledged += _kill_after(hub_dir, count)

    conn = sqlite3.connect(hub_dir / "hub.sqlite")
    seqs = [r[0] for r in conn.execute("SELECT seq FROM journal WHERE series = 'HUB' ORDER BY seq")]
    outbox = [r[0] for r in conn.execute("SELECT hub_seq FROM outbox ORDER BY hub_seq")]
    events = [
        json.loads(r[0])["seq"] for r in conn.execute("SELECT payload FROM outbox ORDER BY hub_seq")
    ]
    conn.close()
    assert seqs == list(range(1, len(seqs) + 1))
    assert set(acknowledged) <= set(seqs)
    assert len(seqs) >= 1 + 40 + 75 + 20
    assert outbox == list(range(1, len(outbox) + 1))
    assert events == seqs
    report = cli("verify", "--data", str(hub_dir), "--json")
    assert report.exit_code == 0, report.stdout
