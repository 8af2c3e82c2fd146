"""``microhub serve`` syncs a joined hub in the background."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

from microhub.bootstrap import open_hub
from microhub.cloud.admin import create_org, enroll_hub
from microhub.cloud.server import EmbeddedCloud, free_port
from microhub.services.sales import ItemRequest, PaymentRequest, sell
from microhub.services.sync import join


def test_serve_pushes_new_sales_to_the_cloud(hub_dir: Path, tmp_path: Path) -> None:
    """A sale made while `microhub serve` runs reaches the cloud without any sync command."""
    with EmbeddedCloud(db=f"sqlite:///{tmp_path / 'cloud.sqlite'}") as cloud:
        org = create_org(cloud.store, name="org")
        token = enroll_hub(cloud.store, org=org.org.org_id, name="stall").token
        hub = open_hub(hub_dir)
        asyncio.run(join(hub, cloud_url=cloud.url, token=token))
        server = subprocess.Popen(
            [sys.executable, "-m", "microhub", "serve", "--data", str(hub_dir),
             "--port", str(free_port())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            sell(hub, items=[ItemRequest("COFFEE")], payments=[PaymentRequest("cash")])
            expected = int(hub.db.connection.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            record = cloud.store.find_hub(ref=hub.settings.hub_id)
            deadline = time.monotonic() + 60
            while len(cloud.store.events(hub=record)) < expected:
                assert time.monotonic() < deadline, "serve did not sync the sale"
                time.sleep(0.2)
            assert cloud.store.stats(hub=record)["verification"]["ok"]
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            hub.close()
