"""Documentation is checked: every command teaches in --help, every setting is documented."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import pytest

from microhub.cli.main import cli as cli_group
from microhub.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


COMMANDS = _commands(cli_group)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help(cli: Any, path: tuple[str, ...], command: click.Command) -> None:
    """Each command has a help text and documents each of its options."""
    assert (command.help or "").strip(), f"microhub {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{' '.join(path)} {param.opts[0]} has no help"
    result = cli(*path, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout


def test_core_commands_exist() -> None:
    """The CLI contract's command names are all present."""
    names = {" ".join(p) for p, _ in COMMANDS}
    for required in (
        "init",
        "catalog import",
        "sell",
        "refund",
        "close-day",
        "verify",
        "verify-receipt",
        "export",
        "demo",
    ):
        assert required in names


def test_every_setting_is_documented() -> None:
    """docs/settings.md names every field of Settings."""
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for field in fields(Settings):
        if field.name == "data_dir":
            continue
        assert f"`{field.name}`" in text, f"setting {field.name} is not in docs/settings.md"


def test_readme_gives_the_two_commands() -> None:
    """The README's two set-up commands are the demo and scripts/test, and .ci/run runs the latter."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "scripts/demo" in readme
    assert "microhub demo" in (ROOT / "scripts" / "demo").read_text(encoding="utf-8")
    assert "scripts/test" in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
