"""The PWA's walk-in counter and manager-approved refunds, in Chromium against a real hub."""

from __future__ import annotations

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


@pytest.fixture
def served(hub_dir: Path) -> Iterator[HubServer]:
    server = HubServer(hub_dir).start()
    yield server
    server.stop()


def _pair(browser: Any, cli: Any, data: Path, url: str, name: str, role: str) -> Any:
    added = cli("device", "add", "--data", str(data), "--name", name, "--role", role, "--url",
                url, "--json").json()  # fmt: skip
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(added["url"])
    page.wait_for_selector("#products button.product")
    return context, page


def _count(data: Path, sql: str) -> int:
    with closing(sqlite3.connect(data / "hub.sqlite")) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_walkins_offline_and_a_cashier_refund_approved_with_the_manager_pin(
    served: HubServer, hub_dir: Path, cli: Any
) -> None:
    """Visitors counted offline reach the hub once online; a cashier's refund needs the manager's
    PIN, a wrong PIN is refused with its reason, and the right one records the refund."""
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            _manager_context, boss = _pair(browser, cli, hub_dir, served.url, "boss", "manager")
            boss.click("nav button[data-view=manage]")
            boss.fill("#pin-form input[name=pin]", "2468")
            boss.click("#pin-form button[type=submit]")
            boss.wait_for_function(
                "document.querySelector('#pin-result').textContent === 'PIN set.'"
            )

            context, till = _pair(browser, cli, hub_dir, served.url, "till", "cashier")
            till.click("#products button.product[data-sku='CAKE']")
            till.click("#products button.product[data-sku='CAKE']")
            till.click("#checkout")
            till.click("#confirm-pay")
            number = till.wait_for_selector("#receipt-number").inner_text()
            till.click("#new-sale")

            context.set_offline(True)
            till.click("nav button[data-view=walkins]")
            for _ in range(3):
                till.click("#walkin")
            till.wait_for_function("document.querySelector('#walkin-count').textContent === '3'")
            assert _count(hub_dir, "SELECT COUNT(*) FROM walkins") == 0
            context.set_offline(False)
            till.evaluate("window.dispatchEvent(new Event('online'))")
            for _ in range(100):
                if _count(hub_dir, "SELECT COALESCE(SUM(count), 0) FROM walkins") == 3:
                    break
                till.wait_for_timeout(100)
            assert _count(hub_dir, "SELECT COALESCE(SUM(count), 0) FROM walkins") == 3

            till.click("nav button[data-view=manage]")
            till.fill("#refund-form input[name=receipt]", number)
            till.fill("#refund-form input[name=items]", "CAKE:1")
            till.fill("#refund-form input[name=manager]", "boss")
            till.fill("#refund-form input[name=pin]", "0000")
            till.click("#refund-form button[type=submit]")
            till.wait_for_function(
                "document.querySelector('#refund-result').textContent.includes('wrong manager')"
            )
            till.fill("#refund-form input[name=pin]", "2468")
            till.click("#refund-form button[type=submit]")
            till.wait_for_function(
                "document.querySelector('#refund-result').textContent.startsWith('Refunded as HUB-')"
            )
            assert "approved by boss" in till.inner_text("#refund-result")
            width = till.evaluate("document.documentElement.scrollWidth")
            assert width <= 360  # usable one-handed on a 360-px-wide phone: no sideways scrolling
        finally:
            browser.close()
    assert _count(hub_dir, "SELECT COUNT(*) FROM journal WHERE type = 'refund'") == 1
