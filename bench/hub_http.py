"""Hub HTTP benchmark: checkout throughput and latency, PWA first load and time to interactive.

    .venv/bin/python bench/hub_http.py [--seconds 8] [--clients 16]

What it measures, against a real ``microhub serve`` process on a loopback port:

* checkout — 16 paired devices (one keep-alive connection each, in a separate load-generator
  process) each upload one signed sale per request to ``POST /api/v1/records``: verified,
  chained, journaled with its outbox event and fsynced before the answer;
* baseline, same run, same stack, same clients — ``GET /api/v1/health`` (no credential, no
  database): what uvicorn + FastAPI cost by themselves;
* the hub's own CPU time per request in each phase (from /proc: robust to other load on the
  machine), and the ratio of the two — the throughput ratio the hub would reach on idle cores;
* hub resident memory (VmRSS and peak VmHWM) after both loads;
* the PWA's first-load transfer of HTML + JS + CSS (icons excluded), and its time to
  interactive from the service-worker cache, offline, under 4x CPU throttling in Chromium.

Records are signed before the timed phase so the load generator measures the hub, not itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration" / "hub"))
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "hub"))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> int:
    """One HTTP/1.1 keep-alive request on an open connection; returns the status code."""
    writer.write(head + body)
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _drive(url: str, jobs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Each job is one client on its own keep-alive connection: {method, path, headers, bodies}.

    A tiny hand-written HTTP/1.1 client keeps the load generator cheap, so the numbers are the
    hub's and not the client library's.
    """
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(job: dict[str, Any]) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        extra = "".join(f"{k}: {v}\r\n" for k, v in job["headers"].items())
        bodies = job["bodies"] or [b""]
        index = 0
        try:
            while time.perf_counter() < stop_at and index < len(bodies) * (
                1 if job["bodies"] else 10**9
            ):
                body = bodies[index % len(bodies)]
                index += 1
                head = (
                    f"{job['method']} {job['path']} HTTP/1.1\r\nHost: {host}\r\n{extra}"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                start = time.perf_counter()
                status = await _request(reader, writer, head, body)
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(job) for job in jobs))
    elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


def _load_process(url: str, jobs: list[dict[str, Any]], seconds: float, out: Any) -> None:
    out.send(asyncio.run(_drive(url, jobs, seconds)))


def run_load(url: str, jobs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Run the load generator in a separate process (spawned: no shared interpreter state)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_load_process, args=(url, jobs, seconds, child))
    proc.start()
    result: dict[str, Any] = parent.recv()
    proc.join()
    return result


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time the hub process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measured(pid: int, url: str, jobs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Run a load and add the hub's CPU time per request (robust to noisy neighbours)."""
    before = _cpu_seconds(pid)
    result = run_load(url, jobs, seconds)
    result["server_cpu_ms_per_request"] = (_cpu_seconds(pid) - before) / result["requests"] * 1000
    return result


def _memory(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def _devices(data: Path, url: str, clients: int, per_client: int) -> list[dict[str, Any]]:
    import httpx
    from hubdevice import PyDevice

    from microhub.bootstrap import open_hub
    from microhub.services import devices as device_service
    from microhub.store import catalog as catalog_store

    hub = open_hub(data)
    try:
        items = {i.sku: i for i in catalog_store.list_items(hub.db.connection)}
        codes = [
            device_service.add_device(hub, name=f"bench{i}", role="cashier").code
            for i in range(clients)
        ]
    finally:
        hub.close()
    jobs = []
    with httpx.Client(base_url=url) as http:
        for code in codes:
            device = PyDevice()
            device.pair(http, code)
            assert device.upload(http, [device.start()]).status_code == 200
            bodies = []
            for _ in range(per_client):
                record = device.sale([(items["LATTE"], 1), (items["CAKE"], 2)])
                bodies.append(
                    json.dumps(
                        {
                            "sent_at": datetime.now(UTC).isoformat(),
                            "device_head": record["body"]["seq"],
                            "records": [record],
                        }
                    ).encode()
                )
            jobs.append(
                {
                    "method": "POST",
                    "path": "/api/v1/records",
                    "headers": {**device.auth, "Content-Type": "application/json"},
                    "bodies": bodies,
                }
            )
    return jobs


def pwa_numbers(url: str, pair_url: str) -> dict[str, float]:
    from hubserver import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    shell_types = ("text/html", "text/javascript", "application/javascript", "text/css")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            sizes: dict[str, int] = {}

            def count(response: Any) -> None:
                kind = response.headers.get("content-type", "").split(";")[0]
                if kind in shell_types and "/api/" not in response.url:
                    sizes[response.url] = len(response.body())

            page.on("response", count)
            page.goto(pair_url)
            page.wait_for_selector("#products button.product")
            page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            first_load = sum(sizes.values())
            page.close()
            context.set_offline(True)
            runs = []
            for _ in range(5):
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
                page.goto(url)
                page.wait_for_selector("#products button.product")
                runs.append(float(page.evaluate("window.microhubReadyMs")))
                page.close()
        finally:
            context.close()
    return {
        "first_load_bytes": first_load,
        "first_load_files": len(sizes),
        "tti_ms_median": statistics.median(runs),
        "tti_ms_max": max(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    from hubserver import HubServer

    from microhub.bootstrap import create_hub
    from microhub.services.catalog import import_catalog

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "hub"
        hub = create_hub(data)
        import_catalog(hub, ROOT / "src" / "microhub" / "data" / "demo_catalog.csv")
        hub.close()
        server = HubServer(data).start()
        assert server.proc is not None
        try:
            per_client = int(args.seconds * 800 / args.clients) + 50
            jobs = _devices(data, server.url, args.clients, per_client)
            baseline_jobs = [
                {"method": "GET", "path": "/api/v1/health", "headers": {}, "bodies": []}
                for _ in range(args.clients)
            ]
            baseline = _measured(server.proc.pid, server.url, baseline_jobs, args.seconds)
            checkout = _measured(server.proc.pid, server.url, jobs, args.seconds)
            memory = _memory(server.proc.pid)
            from microhub.bootstrap import open_hub
            from microhub.services import devices as device_service

            hub = open_hub(data)
            code = device_service.add_device(hub, name="pwa", role="cashier").code
            hub.close()
            pwa = pwa_numbers(server.url, f"{server.url}/#pair={code}")
            verify = subprocess.run(
                [sys.executable, "-m", "microhub", "verify", "--data", str(data)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        finally:
            server.stop()
    result = {
        "clients": args.clients,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "baseline_health": baseline,
        "checkout": checkout,
        "ratio": checkout["rps"] / baseline["rps"],
        "cpu_ratio": baseline["server_cpu_ms_per_request"] / checkout["server_cpu_ms_per_request"],
        "hub_memory_mb": memory,
        "pwa": pwa,
        "journal_verifies": verify.returncode == 0,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
