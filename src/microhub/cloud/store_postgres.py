"""The cloud store on PostgreSQL (``postgresql://...``) via psycopg 3 and a connection pool.

A push locks its ``lanes`` row (``SELECT ... FOR UPDATE``), so pushes for one hub's lane
serialise while different hubs run in parallel. New events are written with ``COPY`` (they were
checked for clashes under that lock), which is what makes ingest fast. Migrations run under an
advisory lock so replicas starting together do not race.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from microhub.cloud.migrations import POSTGRES
from microhub.cloud.sqlbase import SqlCloudStore, SqlIngestTx
from microhub.errors import StorageError

__all__ = ["PostgresCloudStore"]

MIGRATION_LOCK = 0x6D6963726F687562  # "microhub"


class PgIngestTx(SqlIngestTx):
    """Look-ups by array (``unnest``) instead of long ``IN`` lists, so the planner hash-joins or
    uses the index even when the table's statistics are stale after a burst of inserts."""

    def existing(self, hub_seqs: Sequence[int]) -> dict[int, tuple[str, str]]:
        if not hub_seqs:
            return {}
        rows = self._c.execute(
            "SELECT e.hub_seq, e.event_id, e.content_hash FROM events e"
            " JOIN unnest(%s::bigint[]) AS u(seq) ON e.hub_seq = u.seq"
            " WHERE e.org_id = %s AND e.hub_id = %s",
            (list(hub_seqs), self.hub.org_id, self.hub.hub_id),
        ).fetchall()
        return {int(r[0]): (str(r[1]), str(r[2])) for r in rows}

    def taken_ids(self, event_ids: Sequence[str]) -> dict[str, int]:
        if not event_ids:
            return {}
        rows = self._c.execute(
            "SELECT e.event_id, e.hub_seq FROM events e"
            " JOIN unnest(%s::text[]) AS u(id) ON e.event_id = u.id"
            " WHERE e.org_id = %s AND e.hub_id = %s",
            (list(event_ids), self.hub.org_id, self.hub.hub_id),
        ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}


class PostgresCloudStore(SqlCloudStore):
    for_update = " FOR UPDATE"
    ingest_tx = PgIngestTx

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=True, kwargs={"autocommit": True}
        )

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def migrate(self) -> int:
        with self._write() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = int(row[0] or 0) if row else 0
            for number, script in enumerate(POSTGRES[version:], start=version + 1):
                conn.execute(script)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        return len(POSTGRES)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.OperationalError as exc:
            raise StorageError(
                f"cloud database unavailable: {exc.__class__.__name__}", retryable=True
            ) from exc

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise StorageError(
                f"cloud database unavailable: {exc.__class__.__name__}", retryable=True
            ) from exc

    def insert_many(
        self, conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.UniqueViolation)
