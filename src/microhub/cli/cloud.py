"""``microhub cloud ...``: run the cloud service and administer organisations and hubs."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from rich.console import Console
from rich.text import Text

from microhub.cli.common import EXIT_NO_HUB, EXIT_STORAGE, Out, fail
from microhub.cloud import open_store
from microhub.cloud.admin import create_org, enroll_hub, hub_stats
from microhub.cloud.server import serve
from microhub.errors import MicrohubError, StorageError

__all__ = ["cloud"]

P = ParamSpec("P")
R = TypeVar("R")
stderr = Console(stderr=True, highlight=False)

DB_HELP = "Cloud database: sqlite:///PATH (embedded) or postgresql://USER@HOST/DB."


def cloud_command(func: Callable[P, R]) -> Callable[P, R]:
    """Like ``hub_command`` for the cloud: ``--db`` and ``--json``, errors to exit codes."""

    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @click.option("--db", required=True, envvar="MICROHUB_CLOUD_DB", show_envvar=True, help=DB_HELP)
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MicrohubError as error:
            fail(error, as_json=bool(kwargs.get("as_json")))

    return wrapper


@click.group()
def cloud() -> None:
    """The cloud service where hubs sync: serve it, create organisations, enroll hubs."""


@cloud.command("serve")
@click.option("--db", required=True, envvar="MICROHUB_CLOUD_DB", show_envvar=True, help=DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
def serve_cmd(db: str, host: str, port: int, workers: int) -> None:
    """Serve the cloud API (FastAPI on uvicorn) until interrupted."""
    try:
        serve(db=db, host=host, port=port, workers=workers)
    except MicrohubError as error:
        stderr.print(Text.assemble(("error", "bold red"), f" ({error.code}): {error.message}"))
        sys.exit(EXIT_STORAGE if isinstance(error, StorageError) else EXIT_NO_HUB)


@cloud.group("org")
def org() -> None:
    """Organisations (tenants)."""


@org.command("create")
@click.argument("name")
@cloud_command
def org_create(name: str, db: str, as_json: bool) -> None:
    """Create an organisation and print its admin token (shown once)."""
    store = open_store(db)
    try:
        created = create_org(store, name=name)
    finally:
        store.close()
    Out(as_json).emit(
        created.to_json(),
        lambda c: c.print(
            f"organisation [bold]{created.org.name}[/] ({created.org.org_id})\n"
            f"admin token (shown once): {created.admin_token}"
        ),
    )


@cloud.group("hub")
def hub_group() -> None:
    """Hubs of an organisation."""


@hub_group.command("enroll")
@click.option("--org", "org_ref", required=True, help="Organisation name or id.")
@click.option("--name", required=True, help="A name for the hub.")
@cloud_command
def hub_enroll(org_ref: str, name: str, db: str, as_json: bool) -> None:
    """Print a one-time enrollment token for a new hub (use it with 'microhub join')."""
    store = open_store(db)
    try:
        enrollment = enroll_hub(store, org=org_ref, name=name)
    finally:
        store.close()
    Out(as_json).emit(
        enrollment.to_json(),
        lambda c: c.print(
            f"enrollment token for hub [bold]{enrollment.name}[/] (shown once, expires "
            f"{enrollment.expires}):\n{enrollment.token}\n"
            f"on the hub: microhub join CLOUD_URL {enrollment.token}"
        ),
    )


@cloud.command("stats")
@click.option("--hub", "hub_ref", required=True, help="Hub id or name.")
@cloud_command
def stats(hub_ref: str, db: str, as_json: bool) -> None:
    """Counts per event type and series head, verification, duplicates, alarms, sync KPI."""
    store = open_store(db)
    try:
        data = hub_stats(store, hub=hub_ref)
    finally:
        store.close()

    def human(c: Console) -> None:
        c.print(f"hub [bold]{data['hub']}[/] ({data['hub_id']}): {data['events']} events")
        for etype, count in data["events_by_type"].items():
            c.print(f"  {etype:<24} {count}")
        for s in data["series"]:
            c.print(f"  series {s['series']}: head {s['head_seq']} {s['head_hash'][:12]}")
        off = data["offline_sync"]
        c.print(
            f"verification ok: {data['verification']['ok']}  duplicates refused: "
            f"{data['duplicates_refused']}  alarms: {data['alarms']}\n"
            f"offline sync success rate: {off['success_rate']:.1%} "
            f"({off['arrived_verified']} of {off['created_offline']} offline records, "
            f"{off['missing']} missing)"
        )

    Out(as_json).emit(data, human)
