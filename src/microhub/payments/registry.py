"""Discovering payment methods through ``importlib.metadata`` entry points.

A package adds a method by declaring, in its ``pyproject.toml``::

    [project.entry-points."microhub.payments"]
    mymethod = "mypackage.payment:MyMethod"

``MyMethod()`` must satisfy :class:`microhub.domain.payments.PaymentMethod`. A hub enables or
disables methods with ``[payments.NAME] enabled = true|false`` in its settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from microhub.domain.payments import PaymentMethod
from microhub.errors import ConfigurationError, ValidationError

__all__ = ["GROUP", "PaymentMethods", "discover"]

GROUP = "microhub.payments"


def discover() -> dict[str, PaymentMethod]:
    """Every installed payment method, by name. A broken plug-in is a ConfigurationError."""
    found: dict[str, PaymentMethod] = {}
    for ep in entry_points(group=GROUP):
        try:
            method = ep.load()()
        except Exception as exc:
            raise ConfigurationError(
                f"payment plug-in {ep.name!r} ({ep.value}) failed to load: {exc}",
                code="bad_plugin",
                details={"plugin": ep.name},
            ) from exc
        if not isinstance(method, PaymentMethod):
            raise ConfigurationError(
                f"payment plug-in {ep.name!r} is not a PaymentMethod",
                code="bad_plugin",
                details={"plugin": ep.name},
            )
        if method.name != ep.name:
            raise ConfigurationError(
                f"payment plug-in {ep.name!r} calls itself {method.name!r}",
                code="bad_plugin",
                details={"plugin": ep.name},
            )
        found[ep.name] = method
    return found


class PaymentMethods:
    """The methods a hub accepts: installed and not disabled in its settings."""

    def __init__(
        self, methods: Mapping[str, PaymentMethod], settings: Mapping[str, Mapping[str, Any]]
    ):
        self._settings = settings
        self._methods = {
            name: method
            for name, method in sorted(methods.items())
            if settings.get(name, {}).get("enabled", True)
        }

    def names(self) -> list[str]:
        return list(self._methods)

    def get(self, name: str, *, field: str = "pay") -> PaymentMethod:
        method = self._methods.get(name)
        if method is None:
            raise ValidationError(
                f"unknown or disabled payment method {name!r}; this hub takes: "
                + ", ".join(self._methods),
                field=field,
                value=name,
                code="unknown_payment_method",
            )
        return method

    def settings_for(self, name: str) -> Mapping[str, Any]:
        return self._settings.get(name, {})
