"""What every use case needs, built once by :func:`microhub.bootstrap.open_hub`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from microhub.clock import Clock
from microhub.crypto.signing import Signer
from microhub.domain.money import Currency, currency
from microhub.payments.registry import PaymentMethods
from microhub.settings import Settings
from microhub.store.sqlite import Database

__all__ = ["Hub"]


@dataclass(frozen=True, slots=True)
class Hub:
    settings: Settings
    db: Database
    signer: Signer
    clock: Clock
    payments: PaymentMethods
    new_event_id: Callable[[], str]

    @property
    def currency(self) -> Currency:
        return currency(self.settings.currency)

    def close(self) -> None:
        self.db.close()
