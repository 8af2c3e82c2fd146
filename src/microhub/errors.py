"""Every error microhub raises on purpose, in one place.

The hierarchy::

    MicrohubError                 code, message, details; ``retryable`` says whether trying again can help
    ├── ValidationError           bad input: names the ``field``, the ``value`` and the problem
    │   ├── UnbalancedPayment     payments do not add up to the total (``difference`` in minor units)
    │   └── RefundExceedsSale     a refund asks for more than is left to refund
    ├── NotFound                  a sku, receipt, series or key that does not exist
    ├── Conflict                  the request contradicts stored state (already closed, already exists)
    ├── ConfigurationError        the data folder or settings are missing or unusable
    ├── SigningError              a signing key could not be used (never blocks a sale: see journal)
    └── StorageError              the database refused or failed; ``retryable`` when it was busy

Errors carry a stable ``code`` (``snake_case``, part of the public contract: the CLI prints it and
``--json`` output carries it) and the offending values in ``details``. HTTP status codes are mapped
only in the web layer; exit codes only in the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ConfigurationError",
    "Conflict",
    "MicrohubError",
    "NotFound",
    "RefundExceedsSale",
    "SigningError",
    "StorageError",
    "UnbalancedPayment",
    "ValidationError",
]


class MicrohubError(Exception):
    """Base of all deliberate microhub errors."""

    code: str = "error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: ``{"code", "message", "retryable", **details}``."""
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            **self.details,
        }


class ValidationError(MicrohubError):
    """Input that cannot be accepted. ``field`` and ``value`` name what was wrong."""

    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str,
        value: Any = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        merged = {"field": field, "value": value, **(details or {})}
        super().__init__(message, code=code, details=merged)
        self.field = field
        self.value = value


class UnbalancedPayment(ValidationError):
    """Payments do not equal the sale's total. ``difference`` = total - paid (minor units)."""

    code = "unbalanced_payment"

    def __init__(self, *, total: int, paid: int, currency: str) -> None:
        difference = total - paid
        if difference > 0:
            what = f"{difference} minor units short"
        else:
            what = f"{-difference} minor units over"
        super().__init__(
            f"payments ({paid}) do not equal the total ({total} {currency}): {what}",
            field="payments",
            value=paid,
            details={"total": total, "paid": paid, "difference": difference, "currency": currency},
        )
        self.difference = difference


class RefundExceedsSale(ValidationError):
    """A refund would return more of an item than was sold and not yet refunded."""

    code = "refund_exceeds_sale"


class NotFound(MicrohubError):
    """Something named by the caller does not exist."""

    code = "not_found"


class Conflict(MicrohubError):
    """The request contradicts what is stored."""

    code = "conflict"


class ConfigurationError(MicrohubError):
    """The data folder, settings or keys are missing or unusable."""

    code = "configuration"


class SigningError(MicrohubError):
    """A signing key could not be loaded or used."""

    code = "signing_failed"


class StorageError(MicrohubError):
    """The database failed. ``retryable`` is true when it was only busy or locked."""

    code = "storage"
