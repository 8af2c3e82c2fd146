"""The SQLite database: connection settings, migrations, and the single-writer transaction.

* WAL mode, so readers never block the writer and the writer never blocks readers.
* ``synchronous=FULL``: every commit is fsynced to the WAL before it returns (a sale that was
  acknowledged survives power loss).
* ``secure_delete=ON``: deleted content is overwritten, not left in free pages.
* One writer: :meth:`Database.write` takes a process-wide lock and ``BEGIN IMMEDIATE``, so the
  database lock is held from the first statement and two processes never interleave.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from microhub.errors import StorageError
from microhub.store.migrations import MIGRATIONS

__all__ = ["Database", "connect"]

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with microhub's pragmas. ``isolation_level=None``: we manage transactions."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    return conn


class Database:
    """A hub database file. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Database:
        if not create and not path.exists():
            raise StorageError(f"database {path} does not exist", code="no_database")
        try:
            db = cls(path, connect(path))
            db.migrate()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path}: {exc}") from exc
        return db

    def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        with self.write() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            return len(MIGRATIONS)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), rolled back on any error."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StorageError(f"database is busy: {exc}", retryable=True) from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK")
                    raise StorageError(f"commit failed: {exc}", retryable=True) from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A separate read-only connection with a consistent snapshot (for long streaming reads)."""
        conn = connect(self.path, readonly=True)
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer's connection, for short reads outside a transaction."""
        return self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (triggers contain ';' inside BEGIN ... END)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
