"""Journal benchmark: signed, chained, durable sales per second against plain SQLite inserts.

    .venv/bin/python bench/journal.py [--sales 2000] [--big 100000] [--out bench/out]

Measures, in one run on the same disk:

1. **Sell**: ``services.sales.sell`` one sale at a time (price, sign with Ed25519, chain, journal
   row + outbox event in one ``BEGIN IMMEDIATE`` transaction, WAL + ``synchronous=FULL``): sales/s
   and p50/p99 commit latency. **Baseline**: inserting the same canonical JSON bytes into a plain
   SQLite table with the same pragmas, one transaction per row.
2. **Verify**: ``verify_journal`` over those records (records/s). **Baseline**: the bare
   Ed25519 verification rate of ``cryptography`` over the same (message, signature) pairs.
3. **Scale**: a hub with ``--big`` records (written with ``synchronous=OFF`` to save time; the
   durability setting does not change what is read), then ``microhub verify`` and
   ``microhub close-day`` as separate processes: wall time and peak RSS.

Prints a Markdown table; paste it into docs/benchmarks.md with the command line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from importlib.resources import as_file, files
from pathlib import Path

from microhub.bootstrap import create_hub, open_hub
from microhub.crypto.signing import check_signature
from microhub.domain.journal import summary
from microhub.services import audit, sales
from microhub.services.catalog import import_catalog
from microhub.store import journal as journal_store
from microhub.store.sqlite import connect

ITEMS = [sales.ItemRequest("LATTE"), sales.ItemRequest("CAKE", 2), sales.ItemRequest("BAO")]
PAY = [sales.PaymentRequest("tap", None, {"ref": "T-1"})]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def new_hub(folder: Path):  # type: ignore[no-untyped-def]
    if folder.exists():
        shutil.rmtree(folder)
    hub = create_hub(folder)
    with as_file(files("microhub") / "data" / "demo_catalog.csv") as path:
        import_catalog(hub, path)
    return hub


def bench_sell(folder: Path, n: int) -> tuple[float, list[float], list[bytes]]:
    hub = new_hub(folder)
    latencies = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        sales.sell(hub, items=ITEMS, payments=PAY)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    raws = [
        bytes(r[0])
        for r in hub.db.connection.execute(
            "SELECT body FROM journal WHERE type = 'sale' ORDER BY seq"
        )
    ]
    hub.close()
    return n / elapsed, latencies, raws


def bench_plain(folder: Path, raws: list[bytes]) -> tuple[float, list[float]]:
    path = folder / "plain.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = connect(path)
    conn.execute("CREATE TABLE plain (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    latencies = []
    start = time.perf_counter()
    for raw in raws:
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO plain (body) VALUES (?)", (raw,))
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    conn.close()
    return len(raws) / elapsed, latencies


def bench_verify(folder: Path) -> tuple[float, float, int]:
    hub = open_hub(folder)
    try:
        start = time.perf_counter()
        report = audit.verify_journal(hub)
        verify_rate = sum(s.records for s in report.series) / (time.perf_counter() - start)
        assert report.ok, report.findings[:3]
        conn = hub.db.connection
        keys = journal_store.keys_for(conn)
        pairs = []
        import json

        for (
            raw,
            digest,
            sig,
        ) in conn.execute("SELECT body, hash, signature FROM journal"):
            body = json.loads(raw)
            pairs.append((keys[body["key"]], summary(body, digest).encode(), bytes(sig)))
        start = time.perf_counter()
        for key, message, signature in pairs:
            assert check_signature(key, message, signature)
        bare_rate = len(pairs) / (time.perf_counter() - start)
    finally:
        hub.close()
    return verify_rate, bare_rate, len(pairs)


def bench_crypto(folder: Path, n: int) -> float:
    """Seconds per record for canonical JSON + SHA-256 + Ed25519 signing alone (no storage)."""
    from microhub.domain.journal import build

    hub = open_hub(folder)
    try:
        head = journal_store.head(hub.db.connection, hub.settings.series)
        body = journal_store.get_record(hub.db.connection, hub.settings.series, head.seq)[0]
        from microhub.services.sales import _priced

        priced = _priced(body)
        now = hub.clock.now()
        start = time.perf_counter()
        for _ in range(n):
            draft = build(head, record_type="sale", time=now, currency="EUR", priced=priced)
            hub.signer.sign(draft.summary)
        return (time.perf_counter() - start) / n
    finally:
        hub.close()


def fill_big(folder: Path, n: int) -> None:
    hub = new_hub(folder)
    hub.db.connection.execute("PRAGMA synchronous = OFF")
    for i in range(n - 1):
        sales.sell(hub, items=ITEMS[: 1 + i % 3], payments=PAY)
        if i % 10_000 == 0:
            print(f"  filled {i} / {n}", file=sys.stderr)
    hub.close()


def run_measured(args: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of one microhub command in its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "microhub", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"microhub {' '.join(args)} failed with {proc.returncode}")
    if proc.stderr is not None:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sales", type=int, default=2000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    sell_rate, sell_lat, raws = bench_sell(args.out / "sell", args.sales)
    plain_rate, plain_lat = bench_plain(args.out, raws)
    verify_rate, bare_rate, verified = bench_verify(args.out / "sell")
    crypto = bench_crypto(args.out / "sell", args.sales)

    print("| measure | microhub | baseline | ratio |\n|---|---|---|---|")
    print(
        f"| durable sales/s ({args.sales}) | {sell_rate:,.0f} | {plain_rate:,.0f} plain SQLite inserts/s "
        f"| {sell_rate / plain_rate:.2f}x |"
    )
    print(
        f"| commit p50 | {percentile(sell_lat, 0.5) * 1e3:.2f} ms | {percentile(plain_lat, 0.5) * 1e3:.2f} ms | |"
    )
    print(
        f"| commit p99 | {percentile(sell_lat, 0.99) * 1e3:.2f} ms | {percentile(plain_lat, 0.99) * 1e3:.2f} ms | |"
    )
    print(
        f"| verify records/s ({verified}) | {verify_rate:,.0f} | {bare_rate:,.0f} bare Ed25519 verifies/s "
        f"| {verify_rate / bare_rate:.2f}x |"
    )
    print(
        f"| canonical JSON + hash + sign per record | {crypto * 1e3:.3f} ms | "
        f"{percentile(plain_lat, 0.5) * 1e3:.2f} ms one durable commit | "
        f"{crypto / percentile(plain_lat, 0.5):.2f}x of a flush |"
    )
    sys.stdout.flush()

    if args.big:
        big = args.out / "big"
        fill_big(big, args.big)
        vt, vrss = run_measured(["verify", "--data", str(big), "--json"])
        ct, crss = run_measured(["close-day", "--data", str(big), "--json"])
        print(
            f"| verify {args.big:,} records | {vt:.1f} s, peak RSS {vrss:.0f} MB | limit 200 MB | |"
        )
        print(
            f"| close-day over {args.big:,} records | {ct:.1f} s, peak RSS {crss:.0f} MB | limit 200 MB | |"
        )
    print(
        f"\nmedian sale latency {statistics.median(sell_lat) * 1e3:.2f} ms; cpu count {os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
