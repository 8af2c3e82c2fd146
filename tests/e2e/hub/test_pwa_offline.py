"""The PWA in Debian's Chromium against a real ``microhub serve``: offline selling, exactly once."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from hubserver import CHROMIUM, CHROMIUM_ARGS, HubServer

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")

SW_ACTIVATED = """async () => {
  const reg = await navigator.serviceWorker.ready;
  const worker = reg.active;
  if (worker.state !== "activated") {
    await new Promise((resolve) => worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve();
    }));
  }
  return worker.state;
}"""

DEVICE_RECORDS = """async () => {
  const db = await new Promise((ok, no) => {
    const r = indexedDB.open("microhub"); r.onsuccess = () => ok(r.result); r.onerror = no;
  });
  const all = await new Promise((ok) => {
    const r = db.transaction("records").objectStore("records").getAll(); r.onsuccess = () => ok(r.result);
  });
  return all.map((x) => ({ seq: x.seq, hash: x.hash, status: x.status, type: x.body.type }));
}"""


@pytest.fixture
def served(hub_dir: Path) -> Iterator[HubServer]:
    server = HubServer(hub_dir).start()
    yield server
    server.stop()


def _add_device(cli: Any, data: Path, url: str, name: str, role: str) -> dict[str, Any]:
    result = cli(
        "device", "add", "--data", str(data), "--name", name, "--role", role, "--url", url, "--json"
    )
    assert result.exit_code == 0, result.stdout
    return dict(result.json())


def _waiting(page: Any, count: int) -> None:
    page.wait_for_function(
        f"document.querySelector('#status-waiting').textContent === '{count}'", timeout=30_000
    )


def _sell(page: Any, sku: str) -> str:
    page.click(f"#products button.product[data-sku='{sku}']")
    page.click("#checkout")
    page.click("#confirm-pay")
    number = page.wait_for_selector("#receipt-number").inner_text()
    page.click("#new-sale")
    return str(number)


def _journal(data: Path, series: str) -> list[tuple[int, str, str]]:
    with closing(sqlite3.connect(data / "hub.sqlite")) as conn:
        return conn.execute(
            "SELECT seq, type, hash FROM journal WHERE series = ? ORDER BY id", (series,)
        ).fetchall()


def test_offline_sales_reach_the_hub_exactly_once_across_reload_close_and_hub_kill(
    served: HubServer, hub_dir: Path, cli: Any, cli_proc: Any, tmp_path: Path
) -> None:
    """Twenty sales made offline survive a reload, a closed tab and a SIGKILLed hub mid-replay,
    and land in the hub's journal exactly once each, in the device's series, verifiably."""
    paired = _add_device(cli, hub_dir, served.url, "till 1", "cashier")
    series = paired["device"]["series"]
    with playwright_sync.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            page.goto(paired["url"])
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_selector("#products button.product")
            assert page.evaluate(SW_ACTIVATED) == "activated"

            # Online: the sale is uploaded straight away.
            online_number = _sell(page, "LATTE")
            _waiting(page, 0)
            assert [r[0] for r in _journal(hub_dir, series)] == [1, 2]

            # Offline: twenty sales, numbered and signed on the device.
            context.set_offline(True)
            numbers = [_sell(page, "CAKE" if i % 2 else "LATTE") for i in range(20)]
            _waiting(page, 20)
            page.wait_for_function(
                "document.querySelector('#status-online').textContent === 'offline'"
            )
            assert numbers == [f"{series}-{seq}" for seq in range(3, 23)]
            assert len(_journal(hub_dir, series)) == 2

            # Reload while offline: the shell comes from the service worker's cache.
            page.reload()
            page.wait_for_selector("body[data-ready='1']")
            _waiting(page, 20)
            assert page.locator("#products button.product").count() > 0

            # Close the tab, open a new one in the same profile, still offline.
            page.close()
            page = context.new_page()
            page.goto(served.url)
            page.wait_for_selector("body[data-ready='1']")
            _waiting(page, 20)
            device_side = {r["seq"]: r["hash"] for r in page.evaluate(DEVICE_RECORDS)}

            # Back online, but the hub is SIGKILLed right after it stored the first batch and
            # before the phone hears back: the phone must retry and the hub must not double it.
            state = {"killed": False}

            def kill_after_commit(route: Any) -> None:
                if state["killed"]:
                    route.continue_()
                    return
                response = route.fetch()
                assert response.status == 200, response.text()
                served.kill()
                state["killed"] = True
                route.abort()

            context.route("**/api/v1/records", kill_after_commit)
            context.set_offline(False)
            page.evaluate("window.dispatchEvent(new Event('online'))")
            for _ in range(300):  # route handlers run while Playwright waits
                if state["killed"]:
                    break
                page.wait_for_timeout(100)
            assert state["killed"]
            stored_before_restart = len(_journal(hub_dir, series))
            assert 2 < stored_before_restart < 22
            served.start()
            _waiting(page, 0)
        finally:
            context.close()

    rows = _journal(hub_dir, series)
    assert [seq for seq, _, _ in rows] == list(range(1, 23))
    assert [t for _, t, _ in rows] == ["start"] + ["sale"] * 21
    assert {seq: digest for seq, _, digest in rows if seq >= 3} == {
        seq: digest for seq, digest in device_side.items() if seq >= 3
    }
    assert online_number == f"{series}-2"
    with closing(sqlite3.connect(hub_dir / "hub.sqlite")) as conn:
        payloads = conn.execute("SELECT payload FROM outbox WHERE type = 'sale.recorded'")
        events = [json.loads(p) for (p,) in payloads]
    assert sorted(e["seq"] for e in events if e["series"] == series) == list(range(2, 23))
    verify = cli_proc("verify", "--data", str(hub_dir), "--json")
    assert verify.exit_code == 0, verify.stdout
    assert json.loads(verify.stdout)["ok"] is True
    listed = cli("device", "list", "--data", str(hub_dir), "--json").json()["devices"]
    assert [(d["name"], d["head_seq"], d["missing"]) for d in listed] == [("till 1", 22, 0)]
