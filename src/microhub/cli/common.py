"""What every command shares: ``--data``/``--json``, error rendering and exit codes.

Exit codes (part of the CLI contract):

* 0 — done
* 1 — a check failed (``verify`` found problems, ``verify-receipt`` refused a receipt)
* 2 — bad input (unknown sku, unbalanced payment, malformed file, bad option) — nothing written
* 3 — no usable hub (missing data folder or settings, unreadable database)
* 4 — storage failure (the database refused the write; nothing written, may be retried)
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.text import Text

from microhub.bootstrap import open_hub
from microhub.errors import ConfigurationError, MicrohubError, StorageError
from microhub.services.context import Hub
from microhub.settings import default_data_dir, resolve_data_dir

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CHECK_FAILED",
    "EXIT_NO_HUB",
    "EXIT_STORAGE",
    "Out",
    "fail",
    "hub_command",
    "json_command",
    "open_from",
]

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_HUB = 3
EXIT_STORAGE = 4

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class Out:
    """Renders results: JSON on stdout with ``--json``, rich text otherwise."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self.console = Console(highlight=False, soft_wrap=True)

    def emit(self, data: Any, human: Callable[[Console], None] | None = None) -> None:
        if self.json or human is None:
            sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
        else:
            human(self.console)


def open_from(data: Path) -> Hub:
    if not data.exists():
        raise ConfigurationError(
            f"data folder {data} does not exist: run 'microhub init --data {data}' first",
            code="no_hub",
            details={"data_dir": str(data)},
        )
    return open_hub(data)


def _exit_code(error: MicrohubError) -> int:
    if isinstance(error, ConfigurationError):
        return EXIT_NO_HUB
    if isinstance(error, StorageError):
        return EXIT_STORAGE
    return EXIT_BAD_INPUT


def fail(error: MicrohubError, *, as_json: bool, exit_code: int | None = None) -> NoReturn:
    """Print ``error`` (JSON on stdout, or one line on stderr naming the field) and exit."""
    if as_json:
        sys.stdout.write(json.dumps({"error": error.to_dict()}, default=str) + "\n")
    else:
        field = error.details.get("field")
        detail = f" [field: {field}]" if field else ""
        stderr.print(
            Text.assemble(("error", "bold red"), f" ({error.code}): {error.message}{detail}")
        )
    sys.exit(_exit_code(error) if exit_code is None else exit_code)


def json_command(func: Callable[P, R]) -> Callable[P, R]:
    """For commands that need no hub: add ``--json`` and turn ``MicrohubError`` into an exit."""

    @click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print machine-readable JSON on stdout (errors too).",
    )
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MicrohubError as error:
            fail(error, as_json=bool(kwargs.get("as_json")))

    return wrapper


def hub_command(func: Callable[P, R]) -> Callable[P, R]:
    """Add ``--data`` and ``--json`` and turn ``MicrohubError`` into a message and an exit code."""

    @click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print machine-readable JSON on stdout (errors too).",
    )
    @click.option(
        "--data",
        "data",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        envvar="MICROHUB_DATA",
        show_envvar=True,
        help=f"The hub's data folder [default: {default_data_dir()}].",
    )
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        kwargs["data"] = resolve_data_dir(kwargs.get("data"))  # type: ignore[arg-type]
        try:
            return func(*args, **kwargs)
        except MicrohubError as error:
            fail(error, as_json=bool(kwargs.get("as_json")))

    return wrapper
