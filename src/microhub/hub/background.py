"""Background tasks that ``microhub serve`` runs beside the web app, for as long as it serves.

A task is an async callable ``task(hub, stop)`` that runs until ``stop`` (an ``asyncio.Event``)
is set and then returns promptly; it must not raise for transient failures (log them and retry).
:func:`default_tasks` is the one place that decides which tasks a hub runs (sync, the battery
watcher, scheduled backups, retention), from its settings; ``microhub serve`` passes them to
:func:`microhub.hub.create_app`.

On shutdown the server sets ``stop``, waits up to ``STOP_GRACE_S`` for every task, then cancels
the rest, and only then closes the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from microhub.services.backup import run_backup_scheduler
from microhub.services.context import Hub
from microhub.services.power import run_watcher
from microhub.services.retention import run_retention
from microhub.services.sync import run_sync_loop
from microhub.settings import Settings

__all__ = [
    "STOP_GRACE_S",
    "BackgroundTask",
    "default_tasks",
    "start_all",
    "stop_all",
]

BackgroundTask: TypeAlias = Callable[[Hub, asyncio.Event], Awaitable[None]]

STOP_GRACE_S = 10.0

log = logging.getLogger("microhub.hub")


def default_tasks(settings: Settings) -> list[BackgroundTask]:
    """What ``microhub serve`` runs beside the web app, from the hub's settings:

    * sync with the cloud (returns at once on a hub that never joined one),
    * the battery watcher when ``power_source`` is set,
    * scheduled backups when ``backup_targets`` is set,
    * the retention policy, always (with a passphrase-wrapped hub key it needs
      ``MICROHUB_VAULT_PASSPHRASE``; without it the task logs the problem and retries later).
    """
    tasks: list[BackgroundTask] = [lambda hub, stop: run_sync_loop(hub, stop=stop)]
    if settings.power_source:
        source = settings.power_source
        tasks.append(lambda hub, stop: run_watcher(hub, source_url=source, stop=stop))
    if settings.backup_targets:
        tasks.append(lambda hub, stop: run_backup_scheduler(hub, stop=stop))
    passphrase = os.environ.get("MICROHUB_VAULT_PASSPHRASE")
    tasks.append(lambda hub, stop: run_retention(hub, stop=stop, passphrase=passphrase))
    return tasks


def start_all(
    hub: Hub, tasks: list[BackgroundTask] | None = None
) -> tuple[asyncio.Event, list[asyncio.Task[None]]]:
    """Start ``tasks`` (none by default); return the stop event and the running tasks."""
    stop = asyncio.Event()
    running = []
    for task in tasks or []:

        async def guarded(task: BackgroundTask = task) -> None:
            try:
                await task(hub, stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %r stopped with an error", task)

        running.append(asyncio.create_task(guarded()))
    return stop, running


async def stop_all(stop: asyncio.Event, running: list[asyncio.Task[None]]) -> None:
    stop.set()
    if not running:
        return
    _done, pending = await asyncio.wait(running, timeout=STOP_GRACE_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
