"""Sync benchmark: backlog drain, flapping link and fleet fan-in, each against baselines.

    .venv/bin/python bench/sync.py [--scale 1.0] [--hubs 200] [--hub-events 2000]
                                   [--pouch /tmp/pouch] [--out bench/out/sync.json]

Scenarios (sizes are multiplied by ``--scale`` for a quick run):

1. **8-hour backlog drain**: a hub with 20,000 sales, 2,000 refunds, 500 consents and 288,000
   telemetry points pushes to the cloud (``microhub cloud serve`` on PostgreSQL, a separate
   process) over loopback. Measured: events/s, time until the money lane is fully acknowledged,
   whether it was before any telemetry, bytes sent, peak RSS of the hub (the sync process) and of
   the cloud. **Baselines**, same documents, same run: raw PostgreSQL ``COPY`` of the rows (the
   ceiling), and PouchDB replication from ``pouchdb-node`` into ``pouchdb-server`` (npm packages
   installed in ``--pouch``, outside the repository).
2. **Flapping link**: the same drain through the fault proxy, link up 2 s and down 1 s: loss,
   duplicates, and bytes sent against a clean drain through the same proxy.
3. **Fleet fan-in**: ``--hubs`` hubs with ``--hub-events`` events each (5 % sales) reconnect at
   once: events/s, p99 push latency, and whether all drained.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import httpx
import psycopg

from microhub.bootstrap import create_hub, open_hub
from microhub.cloud import open_store
from microhub.cloud.admin import create_org, enroll_hub
from microhub.cloud.server import free_port
from microhub.services import sales
from microhub.services.catalog import import_catalog
from microhub.services.context import Hub
from microhub.services.sync import engine_for, join, run_sync_loop
from microhub.store import outbox
from microhub.sync import state
from microhub.sync.backoff import Backoff
from microhub.sync.faultproxy import FaultProxy

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ITEMS = [sales.ItemRequest("LATTE"), sales.ItemRequest("CAKE", 2)]
PAY = [sales.PaymentRequest("tap", None, {"ref": "T-1"})]


# -- set-up ------------------------------------------------------------------------------------
def new_db() -> str:
    name = f"bench_sync_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_db(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_hub(folder: Path) -> Hub:
    hub = create_hub(folder)
    with as_file(files("microhub") / "data" / "demo_catalog.csv") as path:
        import_catalog(hub, path)
    return hub


def fill(hub: Hub, *, sales_n: int, refunds: int, consents: int, telemetry: int) -> None:
    """The 8-hour mix, interleaved as at a real event (telemetry every 100 ms, sales between)."""
    receipts = []
    total = sales_n + refunds + consents + telemetry
    every = max(1, total // max(1, sales_n + refunds + consents))
    t_left, s_left, r_left, c_left = telemetry, sales_n, refunds, consents
    base_ms = 1_780_000_000_000
    i = 0
    while t_left or s_left or r_left or c_left:
        burst = min(t_left, every)
        if burst:
            with hub.db.write() as conn:
                for _ in range(burst):
                    i += 1
                    outbox.append(
                        conn, event_id=hub.new_event_id(), lane="telemetry",
                        event_type="power.reading",
                        payload={"v": 12.8, "a": 3.1, "w": 39.7, "soc": 81, "t": base_ms + i * 100},
                        now_ms=base_ms + i * 100, created="2026-06-01T10:00:00.000Z",
                    )  # fmt: skip
            t_left -= burst
        if s_left:
            receipts.append(sales.sell(hub, items=ITEMS, payments=PAY).number)
            s_left -= 1
        elif r_left and receipts:
            sales.refund(hub, receipt=receipts.pop(0))
            r_left -= 1
        elif c_left:
            with hub.db.write() as conn:
                outbox.append(
                    conn, event_id=hub.new_event_id(), lane="consent", event_type="consent.granted",
                    payload={"person": uuid.uuid4().hex, "purpose": "newsletter", "granted": True},
                    now_ms=base_ms + i * 100, created="2026-06-01T10:00:00.000Z",
                )  # fmt: skip
            c_left -= 1


def outbox_rows(hub_dir: Path) -> list[tuple[Any, ...]]:
    hub = open_hub(hub_dir)
    try:
        return [
            (int(r[0]), r[1], r[2], r[3], bytes(r[4]).decode(), r[5], int(r[6]), r[7])
            for r in hub.db.connection.execute(
                "SELECT hub_seq, event_id, lane, type, payload, hlc, schema, created FROM outbox"
                " ORDER BY hub_seq"
            )
        ]
    finally:
        hub.close()


class Cloud:
    workers = 1

    def __init__(self, db: str) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "microhub", "cloud", "serve", "--db", db, "--port",
             str(self.port), "--workers", str(self.workers)],
        )  # fmt: skip
        for _ in range(300):
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("cloud did not start")

    def peak_rss_mb(self) -> float:
        """The largest peak RSS among the cloud's processes (the server and its workers)."""
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        return max(peak_rss_mb(pid) for pid in pids)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def join_to(hub_dir: Path, db: str, url: str, name: str) -> None:
    store = open_store(db)
    try:
        org = create_org(store, name=f"org-{uuid.uuid4().hex[:8]}")
        token = enroll_hub(store, org=org.org.org_id, name=name).token
    finally:
        store.close()
    hub = open_hub(hub_dir)
    try:
        asyncio.run(join(hub, cloud_url=url, token=token))
    finally:
        hub.close()


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the drain worker (a separate process, so its peak RSS is the hub's) ------------------------
def drain_worker(hub_dir: Path, *, loop: bool) -> dict[str, Any]:
    hub = open_hub(hub_dir)
    money_max = int(
        hub.db.connection.execute(
            "SELECT COALESCE(MAX(hub_seq), 0) FROM outbox WHERE lane = 'money'"
        ).fetchone()[0]
    )
    marks: dict[str, float] = {}
    done = threading.Event()
    started = time.monotonic()

    def watch() -> None:
        while not done.is_set():
            with hub.db.read() as conn:
                cur = state.cursors(conn)
                left = sum(int(v["pending"]) for v in state.pending(conn).values())
            now = time.monotonic() - started
            if cur["money"] >= money_max and "money" not in marks:
                marks["money"] = now
            if cur["telemetry"] > 0 and "telemetry_first" not in marks:
                marks["telemetry_first"] = now
            if left == 0:
                marks["all"] = now
                done.set()
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    engine = engine_for(hub)
    if loop:

        async def run() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(
                run_sync_loop(
                    hub,
                    stop=stop,
                    interval=0.05,
                    backoff=Backoff(base=0.05, cap=0.5),
                    engine=engine,
                )
            )
            while not done.is_set():
                await asyncio.sleep(0.05)
            stop.set()
            await task

        asyncio.run(run())
    else:
        while not done.is_set():
            asyncio.run(engine.run_once())
            watcher.join(0.5)
    watcher.join(5)
    with hub.db.read() as conn:
        sent = int(conn.execute("SELECT SUM(bytes_sent) FROM sync_lanes").fetchone()[0] or 0)
    hub.close()
    return {
        "peak_rss_mb": peak_rss_mb(),
        "seconds": marks["all"],
        "money_acked_s": marks.get("money"),
        "telemetry_first_s": marks.get("telemetry_first"),
        "bytes_sent_acked": sent,
    }


def run_drain(hub_dir: Path, *, loop: bool) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "_drain", str(hub_dir), "loop" if loop else "once"],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait()
    result: dict[str, Any] = json.loads(out)
    # VmHWM of the worker itself (ru_maxrss of a child also counts the forked parent's pages).
    result["hub_peak_rss_mb"] = result.pop("peak_rss_mb")
    return result


def cloud_check(db: str, rows: list[tuple[Any, ...]]) -> dict[str, int]:
    with psycopg.connect(db) as conn:
        stored = conn.execute("SELECT COUNT(*), COUNT(DISTINCT (hub_id, hub_seq)) FROM events")
        count, distinct = stored.fetchone()
        rejects = conn.execute("SELECT COUNT(*) FROM rejects").fetchone()[0]
    return {
        "expected": len(rows),
        "stored": int(count),
        "lost": len(rows) - int(distinct),
        "duplicates": int(count) - int(distinct),
        "rejects": int(rejects),
    }


# -- baselines ---------------------------------------------------------------------------------
def baseline_copy(rows: list[tuple[Any, ...]]) -> float:
    db = new_db()
    try:
        with psycopg.connect(db) as conn:
            conn.execute(
                "CREATE TABLE events (hub_id TEXT, hub_seq BIGINT, event_id TEXT, lane TEXT,"
                " type TEXT, payload TEXT, hlc TEXT, schema INT, created TEXT,"
                " PRIMARY KEY (hub_id, hub_seq))"
            )
            conn.commit()
            started = time.monotonic()
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY events (hub_seq, event_id, lane, type, payload, hlc, schema, created, hub_id)"
                    " FROM STDIN"
                ) as copy,
            ):
                for row in rows:
                    copy.write_row((*row, "h"))
            conn.commit()
            return len(rows) / (time.monotonic() - started)
    finally:
        drop_db(db)


POUCH_JS = r"""
const PouchDB = require('pouchdb-node');
const fs = require('fs');
const [file, dir, remote] = process.argv.slice(2);
(async () => {
  const local = new PouchDB(dir);
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  for (let i = 0; i < lines.length; i += 5000) {
    await local.bulkDocs(lines.slice(i, i + 5000).map(l => JSON.parse(l)));
  }
  const started = Date.now();
  await local.replicate.to(remote, {batch_size: 1000});
  const seconds = (Date.now() - started) / 1000;
  console.log(JSON.stringify({docs: lines.length, seconds}));
})().catch(e => { console.error(e); process.exit(1); });
"""


def baseline_pouch(rows: list[tuple[Any, ...]], pouch: Path, work: Path) -> dict[str, Any] | None:
    if not (pouch / "node_modules" / "pouchdb-node").exists():
        return None
    docs = work / "docs.jsonl"
    with open(docs, "w") as out:
        for hub_seq, event_id, lane, etype, payload, hlc, schema, created in rows:
            doc = {"_id": f"{hub_seq:012d}", "event_id": event_id, "lane": lane, "type": etype,
                   "payload": payload, "hlc": hlc, "schema": schema, "created": created}  # fmt: skip
            out.write(json.dumps(doc) + "\n")
    script = pouch / "bench_replicate.js"
    script.write_text(POUCH_JS)
    port = free_port()
    server = subprocess.Popen(
        ["node", "node_modules/.bin/pouchdb-server", "-o", "127.0.0.1", "-p", str(port), "-m",
         "-n"],
        cwd=pouch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        local = work / "pouch-local"
        proc = subprocess.run(
            ["node", str(script), str(docs), str(local), f"http://127.0.0.1:{port}/events"],
            cwd=pouch, capture_output=True, text=True, check=True, timeout=3600,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["docs_per_s"] = result["docs"] / result["seconds"]
        return result
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)


# -- scenarios ---------------------------------------------------------------------------------
def scenario_drain(template: Path, work: Path, pouch: Path) -> dict[str, Any]:
    rows = outbox_rows(template)
    out: dict[str, Any] = {"events": len(rows)}
    db = new_db()
    cloud = Cloud(db)
    try:
        hub_dir = work / "drain-hub"
        shutil.copytree(template, hub_dir)
        join_to(hub_dir, db, cloud.url, "drain")
        result = run_drain(hub_dir, loop=False)
        result["events_per_s"] = len(rows) / result["seconds"]
        result["cloud_peak_rss_mb"] = cloud.peak_rss_mb()
        result["check"] = cloud_check(db, rows)
        out["microhub"] = result
    finally:
        cloud.stop()
        drop_db(db)
    out["copy_events_per_s"] = baseline_copy(rows)
    out["pouch"] = baseline_pouch(rows, pouch, work)
    return out


def scenario_flap(template: Path, work: Path) -> dict[str, Any]:
    rows = outbox_rows(template)
    out: dict[str, Any] = {"events": len(rows)}
    for mode in ("clean", "flapping"):
        db = new_db()
        cloud = Cloud(db)
        proxy = FaultProxy(target_port=cloud.port).start()
        try:
            hub_dir = work / f"flap-{mode}"
            shutil.copytree(template, hub_dir)
            join_to(hub_dir, db, proxy.url, mode)
            if mode == "flapping":
                proxy.flap(up_s=2.0, down_s=1.0)
            result = run_drain(hub_dir, loop=True)
            proxy.steady()
            result["bytes_up"] = proxy.bytes_up
            result["check"] = cloud_check(db, rows)
            out[mode] = result
        finally:
            proxy.stop()
            cloud.stop()
            drop_db(db)
    out["bytes_ratio"] = out["flapping"]["bytes_up"] / out["clean"]["bytes_up"]
    return out


def scenario_fanin(work: Path, *, hubs: int, per_hub: int) -> dict[str, Any]:
    template = work / "fan-template"
    hub = new_hub(template)
    fill(hub, sales_n=per_hub // 20, refunds=0, consents=0, telemetry=per_hub - per_hub // 20 - 1)
    hub.close()
    template_id = open_hub(template).settings.hub_id
    db = new_db()
    cloud = Cloud(db)
    dirs = []
    try:
        for n in range(hubs):
            folder = work / f"fan-{n:03d}"
            # A copy has the same hub id and keys; give each its own identity for the cloud.
            shutil.copytree(template, folder)
            text = (folder / "settings.toml").read_text()
            (folder / "settings.toml").write_text(text.replace(template_id, str(uuid.uuid4())))
            join_to(folder, db, cloud.url, f"hub{n}")
            dirs.append(folder)
        latencies: list[float] = []

        async def one(folder: Path) -> int:
            opened = open_hub(folder)
            engine = engine_for(opened)
            try:
                client_post = engine._client  # measure each push's latency

                def timed(peer: Any) -> Any:
                    client = client_post(peer)
                    original = client.post

                    async def post(path: str, body: bytes, **kw: Any) -> dict[str, Any]:
                        started = time.monotonic()
                        try:
                            return await original(path, body, **kw)
                        finally:
                            if path == "/v1/push":
                                latencies.append(time.monotonic() - started)

                    client.post = post  # type: ignore[method-assign]
                    return client

                engine._client = timed  # type: ignore[method-assign]
                report = await engine.run_once()
                return sum(report.pushed.values())
            finally:
                opened.close()

        async def all_hubs() -> list[int]:
            return await asyncio.gather(*(one(folder) for folder in dirs))

        started = time.monotonic()
        pushed = asyncio.run(all_hubs())
        seconds = time.monotonic() - started
        latencies.sort()
        with psycopg.connect(db) as conn:
            stored = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            rejects = int(conn.execute("SELECT COUNT(*) FROM rejects").fetchone()[0])
        return {
            "hubs": hubs,
            "events": sum(pushed),
            "stored": stored,
            "rejects": rejects,
            "seconds": seconds,
            "events_per_s": sum(pushed) / seconds,
            "push_p50_s": latencies[len(latencies) // 2],
            "push_p99_s": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "all_drained": stored == sum(pushed) and all(p > 0 for p in pushed),
            "cloud_peak_rss_mb": cloud.peak_rss_mb(),
        }
    finally:
        cloud.stop()
        drop_db(db)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_drain":
        print(json.dumps(drain_worker(Path(sys.argv[2]), loop=sys.argv[3] == "loop")))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--hubs", type=int, default=200)
    parser.add_argument("--hub-events", type=int, default=2000)
    parser.add_argument("--cloud-workers", type=int, default=1)
    parser.add_argument("--pouch", type=Path, default=Path("/tmp/pouch"))
    parser.add_argument("--skip", action="append", default=[], choices=["drain", "flap", "fanin"])
    parser.add_argument("--out", type=Path, default=Path("bench/out/sync.json"))
    args = parser.parse_args()
    Cloud.workers = args.cloud_workers
    work = Path(tempfile.mkdtemp(prefix="microhub-bench-sync-"))
    results: dict[str, Any] = {"scale": args.scale, "cloud_workers": args.cloud_workers}
    try:
        template = work / "template"
        started = time.monotonic()
        hub = new_hub(template)
        s = args.scale
        fill(
            hub, sales_n=int(20_000 * s), refunds=int(2_000 * s), consents=int(500 * s),
            telemetry=int(288_000 * s),
        )  # fmt: skip
        hub.close()
        print(f"backlog built in {time.monotonic() - started:.0f} s", file=sys.stderr)
        if "drain" not in args.skip:
            results["drain"] = scenario_drain(template, work, args.pouch)
            print(json.dumps(results["drain"], indent=1), file=sys.stderr)
        if "flap" not in args.skip:
            results["flap"] = scenario_flap(template, work)
            print(json.dumps(results["flap"], indent=1), file=sys.stderr)
        if "fanin" not in args.skip:
            results["fanin"] = scenario_fanin(work, hubs=args.hubs, per_hub=args.hub_events)
            print(json.dumps(results["fanin"], indent=1), file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
