"""Group commit: many threads' writes share transactions; one failing job never sinks the rest."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from microhub.services.ingest import GroupCommit
from microhub.store.sqlite import Database


def test_concurrent_jobs_commit_together_and_a_failure_rolls_back_alone(tmp_path: Path) -> None:
    """Sixty-four jobs from sixteen threads: every good job is stored once, the bad ones not at all,
    and each caller gets its own result or its own error."""
    db = Database.open(tmp_path / "hub.sqlite", create=True)
    with db.write() as conn:
        conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    group = GroupCommit(db)
    results: dict[int, object] = {}

    def job(n: int) -> None:
        def write(conn: object) -> int:
            conn.execute("INSERT INTO t (n) VALUES (?)", (n,))  # type: ignore[attr-defined]
            if n % 10 == 7:
                raise ValueError(f"job {n} refuses")
            return n * 2

        try:
            results[n] = group.run(write)
        except ValueError as error:
            results[n] = str(error)

    threads = [
        threading.Thread(target=lambda k=k: [job(k * 4 + i) for i in range(4)]) for k in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = [n for (n,) in db.connection.execute("SELECT n FROM t ORDER BY n")]
    assert stored == [n for n in range(64) if n % 10 != 7]
    assert results == {n: (f"job {n} refuses" if n % 10 == 7 else n * 2) for n in range(64)}
    db.close()


def test_a_failed_commit_fails_every_job_of_the_batch(tmp_path: Path) -> None:
    """When the shared transaction cannot run, every caller of the batch gets the error."""
    db = Database.open(tmp_path / "hub.sqlite", create=True)
    db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        GroupCommit(db).run(lambda conn: 1)
