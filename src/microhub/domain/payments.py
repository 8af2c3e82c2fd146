"""Payments: what a payment is, the rule that a sale balances, and the method plug-in port.

A payment method is a plug-in (entry point group ``microhub.payments``): the built-in ``tap``,
``invoice`` and ``cash`` register through the same mechanism a card-terminal integration would.
Each method turns the operator's options into a :class:`Payment` or refuses them with a
``ValidationError``; it never talks to the journal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from microhub.domain.money import Currency
from microhub.errors import UnbalancedPayment, ValidationError

__all__ = ["Payment", "PaymentContext", "PaymentMethod", "check_balanced"]

Detail = str | int | bool | None


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment towards a sale (positive) or back to the customer on a refund (negative)."""

    method: str
    amount: int
    details: Mapping[str, Detail] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "amount": self.amount, **dict(self.details)}


@dataclass(frozen=True, slots=True)
class PaymentContext:
    """What a method may need to know about the sale it is paying for."""

    currency: Currency
    now: datetime  # timezone-aware
    receipt: str  # the receipt number the sale will get, e.g. "HUB-42"
    settings: Mapping[str, Any] = field(default_factory=dict)  # the ``[payments.NAME]`` table


@runtime_checkable
class PaymentMethod(Protocol):
    """A way to pay. Implementations must be pure: no I/O, no clock (use ``context.now``).

    ``prepare`` validates ``options`` (strings from the CLI, API or PWA) for a payment of
    ``amount`` minor units and returns the :class:`Payment` to record, or raises
    ``ValidationError`` naming the option. ``refund`` builds the (negative) payment that returns
    ``amount`` to the customer.
    """

    name: str
    description: str

    def prepare(
        self, *, amount: int, options: Mapping[str, str], context: PaymentContext
    ) -> Payment: ...

    def refund(
        self, *, amount: int, options: Mapping[str, str], context: PaymentContext
    ) -> Payment: ...


def check_balanced(payments: Sequence[Payment], *, total: int, currency: Currency) -> None:
    """Refuse payments that do not add up to ``total`` exactly, saying by how much they differ."""
    for index, payment in enumerate(payments):
        if total >= 0 and payment.amount <= 0:
            raise ValidationError(
                f"payment {index + 1} ({payment.method}) must be a positive amount",
                field=f"payments[{index}].amount",
                value=payment.amount,
            )
    paid = sum(p.amount for p in payments)
    if paid != total:
        raise UnbalancedPayment(total=total, paid=paid, currency=currency.code)
