"""The daily close: one Z record on the hub's register summarising every series since its last close.

The record's ``data`` holds, per series, the first and last seq covered, totals per tax rate and
per payment method and counts per record type, plus the same summed over all series. The next
close starts after each series' ``last_seq``. Records are streamed, so memory stays flat.
"""

from __future__ import annotations

import json
import sqlite3

from microhub.domain.closing import DayTotals
from microhub.services.context import Hub
from microhub.services.journaling import Recorded, append_record, recover
from microhub.store import journal as journal_store

__all__ = ["close_day"]


def _closed_through(conn: sqlite3.Connection, series: str) -> tuple[int, dict[str, int]]:
    """``(day number of the last close, {series: last seq that close covered})``.

    The close record itself counts as covered, so it is not summed into the next day.
    """
    row = conn.execute(
        "SELECT seq, body FROM journal WHERE series = ? AND type = 'close' ORDER BY seq DESC LIMIT 1",
        (series,),
    ).fetchone()
    if row is None:
        return 0, {}
    data = json.loads(row[1]).get("data", {})
    closed = {s["series"]: int(s["through"]) for s in data.get("series", [])}
    closed[series] = int(row[0])
    return int(data.get("day", 0)), closed


def close_day(hub: Hub) -> Recorded:
    """Write the Z report for everything since the last close and return it."""
    own = hub.settings.series
    with hub.db.write() as conn:
        recover(hub, conn, own)
        day, closed = _closed_through(conn, own)
        combined = DayTotals(series="*")
        per_series = []
        for info in journal_store.list_series(conn):
            totals = DayTotals(series=info.series)
            for body, _raw, _sig in journal_store.iter_bodies(
                conn, info.series, after_seq=closed.get(info.series, 0)
            ):
                totals.add(body)
            combined.merge(totals)
            summary = totals.to_json()
            summary["through"] = info.head_seq
            per_series.append(summary)
        report = combined.to_json()
        del report["series"], report["first_seq"], report["last_seq"]
        return append_record(
            hub,
            conn,
            series=own,
            record_type="close",
            data={"day": day + 1, "series": per_series, **report},
        )
