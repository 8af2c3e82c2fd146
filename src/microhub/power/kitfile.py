"""Reading a kit file: TOML (Python's own ``tomllib``), validated by :func:`~.kit.parse_kit`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from microhub.errors import ValidationError
from microhub.power.kit import Kit, parse_kit

__all__ = ["load_kit"]


def load_kit(path: Path) -> Kit:
    """Read and validate the kit file at ``path``.

    Raises ``ValidationError`` (``field="kit"``) when the file is missing or is not TOML, and the
    validation errors of :func:`parse_kit` (naming the field) when its content is wrong.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(
            f"kit file {path} does not exist", field="kit", value=str(path)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"kit file {path} cannot be read: {exc}", field="kit", value=str(path)
        ) from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(
            f"kit file {path} is not valid TOML: {exc}", field="kit", value=str(path)
        ) from exc
    return parse_kit(raw)
