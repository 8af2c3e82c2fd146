"""Fixtures for sync fault tests: a private PostgreSQL cluster, cloud server processes, a hub."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from microhub.cloud.server import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found[-1]


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster (run as the postgres user) that a test may restart."""

    folder: Path
    port: int

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", _bin("pg_ctl"), "-D", str(self.folder / "data"),
             *args],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._ctl("-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")
        self.start()

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this module's own on a free port, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="microhub-pg-"))
    os.chmod(folder, 0o755)
    shutil.chown(folder, "postgres", "postgres")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", _bin("initdb"), "-D", str(folder / "data"),
         "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pg = PrivatePostgres(folder, free_port())
    pg.start()
    try:
        yield pg
    finally:
        try:
            pg.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cloud_db(private_pg: PrivatePostgres) -> str:
    name = f"cloud_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(private_pg.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return private_pg.url(name)


class CloudProcess:
    """``microhub cloud serve`` as a real process; ``restart()`` kills and starts it again."""

    def __init__(self, db: str, log: Path) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "microhub", "cloud", "serve", "--db", self.db,
                 "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"cloud did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


@pytest.fixture
def cloud_proc(cloud_db: str, tmp_path: Path) -> Iterator[CloudProcess]:
    proc = CloudProcess(cloud_db, tmp_path / "cloud.log")
    proc.start()
    yield proc
    proc.kill()


def run_cli(*args: str, timeout: float = 60) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "microhub", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture
def cli_run() -> Any:
    return run_cli
