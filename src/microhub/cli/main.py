"""The ``microhub`` command group."""

from __future__ import annotations

import click

from microhub import __version__
from microhub.cli import audit, sales, setup
from microhub.cli import demo as demo_cli
from microhub.cli import device as device_cli
from microhub.cli import events as events_cli
from microhub.cli import serve as serve_cli
from microhub.cli import vault as vault_cli
from microhub.cli.cloud import cloud as cloud_cli
from microhub.cli.power import power
from microhub.cli.sync import join as join_cli
from microhub.cli.sync import sync as sync_cli

EPILOG = """\b
Every command takes --data DIR (or MICROHUB_DATA) and --json.
Exit codes: 0 done, 1 a check failed, 2 bad input (nothing written),
3 no usable hub, 4 storage failure.
"""

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT, epilog=EPILOG)
@click.version_option(__version__, prog_name="microhub")
def cli() -> None:
    """microhub: an offline-first point of sale with a signed, auditable journal.

    \b
    Start here:
      microhub demo                     a demo hub with a catalog, and what to try
      microhub init --data DIR          a new, empty hub
    """


cli.add_command(setup.init)
cli.add_command(setup.catalog)
cli.add_command(demo_cli.demo)
cli.add_command(sales.sell)
cli.add_command(sales.refund)
cli.add_command(sales.void)
cli.add_command(sales.close_day)
cli.add_command(events_cli.event)
cli.add_command(audit.verify)
cli.add_command(audit.verify_receipt)
cli.add_command(audit.export)
cli.add_command(vault_cli.key)
vault_cli.key.add_command(audit.rotate_signing)
cli.add_command(vault_cli.consent)
cli.add_command(vault_cli.forget)
cli.add_command(vault_cli.backup)
cli.add_command(vault_cli.restore)
cli.add_command(vault_cli.retention)
cli.add_command(serve_cli.serve)
cli.add_command(device_cli.device)
cli.add_command(power)
cli.add_command(cloud_cli)
cli.add_command(join_cli)
cli.add_command(sync_cli)


def main() -> None:
    cli()
