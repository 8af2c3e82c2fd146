"""The composition root: the one place that builds a hub's object graph.

The CLI, the web apps and the tests all call :func:`open_hub` (or
:func:`microhub.services.setup.init_hub` for a new hub), passing other adapters where they need
to (a fixed clock, a signer that fails) instead of patching.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from microhub.clock import Clock, SystemClock, new_event_id
from microhub.crypto.signing import FileSigner, Signer
from microhub.domain.payments import PaymentMethod
from microhub.payments.registry import PaymentMethods, discover
from microhub.services.context import Hub
from microhub.services.setup import init_hub
from microhub.settings import load_settings
from microhub.store import journal as journal_store
from microhub.store.sqlite import Database

__all__ = ["create_hub", "open_hub"]


def open_hub(
    data_dir: Path,
    *,
    clock: Clock | None = None,
    signer: Signer | None = None,
    methods: dict[str, PaymentMethod] | None = None,
    new_id: Callable[[], str] = new_event_id,
) -> Hub:
    """Open the hub in ``data_dir``. Raises ``ConfigurationError`` when there is none."""
    settings = load_settings(data_dir)
    db = Database.open(settings.database)
    # The database, not the settings file, says which key signs next: a key change is a journal
    # record, so the two can never disagree after a crash.
    key_id = journal_store.head(db.connection, settings.series).key_id
    return Hub(
        settings=settings,
        db=db,
        signer=signer or FileSigner(settings.key_dir, key_id),
        clock=clock or SystemClock(),
        payments=PaymentMethods(methods if methods is not None else discover(), settings.payments),
        new_event_id=new_id,
    )


def create_hub(data_dir: Path, *, clock: Clock | None = None, **values: object) -> Hub:
    """Create a new hub (see :func:`init_hub`) with the system clock by default."""
    return init_hub(data_dir, clock=clock or SystemClock(), values=values)
