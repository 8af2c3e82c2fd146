"""Settings: one frozen, typed object built at the edge.

Precedence: environment (``MICROHUB_*``) over the hub's ``settings.toml`` over the defaults
below. Every setting is documented in ``docs/settings.md`` (a test keeps the two in step).

The data folder comes from ``--data DIR``, else ``MICROHUB_DATA``, else :func:`default_data_dir`
(the platform's user data folder, e.g. ``~/.local/share/microhub`` on Linux).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from microhub.domain.money import currency
from microhub.errors import ConfigurationError, ValidationError

__all__ = [
    "DEFAULT_CURRENCY",
    "SETTINGS_FILE",
    "Settings",
    "default_data_dir",
    "load_settings",
    "new_settings",
    "resolve_data_dir",
    "write_settings",
]

SETTINGS_FILE = "settings.toml"
DEFAULT_CURRENCY = "EUR"
_SERIES = re.compile(r"^[A-Z0-9]{1,12}$")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("microhub", appauthor=False))


def resolve_data_dir(option: str | os.PathLike[str] | None) -> Path:
    """``--data`` if given, else ``MICROHUB_DATA``, else the platform default."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get("MICROHUB_DATA")
    if env:
        return Path(env).expanduser()
    return default_data_dir()


@dataclass(frozen=True, slots=True)
class Settings:
    """A hub's settings. Built by :func:`load_settings`; never mutated (use ``dataclasses.replace``)."""

    data_dir: Path
    hub_id: str
    hub_name: str = "microhub"
    series: str = "HUB"  # the hub's own register series (CLI and API sales)
    currency: str = DEFAULT_CURRENCY
    prices_include_tax: bool = True
    timezone: str = "UTC"
    signing_key: str = ""  # key id of the hub register's current signing key
    payments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The vault (docs/vault.md): scheduled backups and retention.
    backup_targets: tuple[str, ...] = ()  # folders or s3://BUCKET/PREFIX, each may add ?ttl=48h
    backup_recipients: tuple[str, ...] = ()  # extra age recipients (offline recovery keys)
    backup_ttl_hours: int = 168  # backups older than this are pruned from a target
    backup_interval_minutes: int = 360  # how often `serve` backs up to every target
    retention_personal_hours: int = 72  # personal fields purged this long after cloud confirmed
    retention_media_days: int = 7  # the local media cache (DATA/cache/media) is kept this long
    retention_interval_minutes: int = 60  # how often `serve` runs the retention policy
    # Power (docs/power.md): the battery monitor `serve` records telemetry from, if any.
    power_source: str = (
        ""  # nut://HOST:PORT/UPS, vedirect:/dev/ttyX, mqtt://HOST:PORT/venus/ID, ...
    )

    @property
    def database(self) -> Path:
        return self.data_dir / "hub.sqlite"

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "data_dir":
                continue
            value = getattr(self, f.name)
            out[f.name] = {k: dict(v) for k, v in value.items()} if f.name == "payments" else value
        return out


DEFAULT_PAYMENTS: dict[str, dict[str, Any]] = {
    "tap": {"enabled": True},
    "cash": {"enabled": True},
    "invoice": {"enabled": True, "due_days": 14, "name": "", "iban": "", "bic": ""},
}

_ENV_SCALARS = {
    "MICROHUB_HUB_NAME": "hub_name",
    "MICROHUB_CURRENCY": "currency",
    "MICROHUB_PRICES_INCLUDE_TAX": "prices_include_tax",
    "MICROHUB_TIMEZONE": "timezone",
}


def _validate(settings: Settings) -> Settings:
    currency(settings.currency, field="currency")
    if not _SERIES.match(settings.series):
        raise ValidationError(
            "series must be 1-12 upper-case letters or digits",
            field="series",
            value=settings.series,
        )
    if not isinstance(settings.prices_include_tax, bool):
        raise ValidationError(
            "prices_include_tax must be true or false",
            field="prices_include_tax",
            value=settings.prices_include_tax,
        )
    return settings


def _coerce_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValidationError(f"{name} must be true or false", field=name, value=text)


def load_settings(data_dir: Path, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``DATA/settings.toml`` and apply the environment. Missing folder: ConfigurationError."""
    env = os.environ if environ is None else environ
    path = data_dir / SETTINGS_FILE
    if not path.is_file():
        raise ConfigurationError(
            f"no microhub hub in {data_dir}: run 'microhub init --data {data_dir}' first",
            code="no_hub",
            details={"data_dir": str(data_dir)},
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path} cannot be read: {exc}", code="bad_settings") from None
    known = {f.name for f in fields(Settings)} - {"data_dir"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown setting {unknown[0]!r}",
            code="bad_settings",
            details={"field": unknown[0]},
        )
    payments = {k: {**v, **raw.get("payments", {}).get(k, {})} for k, v in DEFAULT_PAYMENTS.items()}
    payments.update({k: v for k, v in raw.get("payments", {}).items() if k not in payments})
    settings = Settings(data_dir=data_dir, **{**raw, "payments": payments})
    overrides: dict[str, Any] = {}
    for var, name in _ENV_SCALARS.items():
        if var in env:
            overrides[name] = (
                _coerce_bool(name, env[var]) if name == "prices_include_tax" else env[var]
            )
    return _validate(replace(settings, **overrides))


def new_settings(data_dir: Path, **values: Any) -> Settings:
    """Settings for a new hub: defaults plus ``values``, validated."""
    payments = {k: dict(v) for k, v in DEFAULT_PAYMENTS.items()}
    for method, extra in values.pop("payments", {}).items():
        payments.setdefault(method, {}).update(extra)
    return _validate(Settings(data_dir=data_dir, payments=payments, **values))


def write_settings(settings: Settings) -> None:
    """Write ``settings.toml`` atomically (temp file, fsync, rename)."""
    path = settings.data_dir / SETTINGS_FILE
    tmp = path.with_suffix(".toml.tmp")
    with open(tmp, "wb") as handle:
        handle.write(b"# microhub hub settings: see docs/settings.md for every option\n")
        tomli_w.dump(settings.to_toml(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
