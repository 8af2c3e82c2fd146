"""Fixtures shared by every tier: hubs in temporary folders, the CLI, a fresh PostgreSQL database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from microhub.bootstrap import create_hub, open_hub
from microhub.cli.main import cli as cli_group
from microhub.services.catalog import import_catalog
from microhub.services.context import Hub

ROOT = Path(__file__).resolve().parent.parent


def demo_catalog_path() -> Any:
    return as_file(files("microhub") / "data" / "demo_catalog.csv")


@pytest.fixture
def hub_dir(tmp_path: Path) -> Path:
    """A new hub with the demo catalog, closed again, in a temporary folder."""
    folder = tmp_path / "hub"
    hub = create_hub(folder)
    with demo_catalog_path() as path:
        import_catalog(hub, path)
    hub.close()
    return folder


@pytest.fixture
def hub(hub_dir: Path) -> Iterator[Hub]:
    """The demo hub, open."""
    opened = open_hub(hub_dir)
    yield opened
    opened.close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli() -> Any:
    """Run ``microhub ARGS`` in-process (click's runner): fast, same code path as the console."""

    def run(*args: str, env: dict[str, str] | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(cli_group, list(args), env=env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def cli_proc() -> Any:
    """Run ``python -m microhub ARGS`` as a real process."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "microhub", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1:5432 for this test session, dropped afterwards."""
    import psycopg

    name = f"microhub_test_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
