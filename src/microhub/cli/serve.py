"""``serve``: run the hub's web app (API + point-of-sale PWA) on the LAN."""

from __future__ import annotations

import socket
from pathlib import Path

import click
import uvicorn

from microhub.cli.common import Out, hub_command, open_from
from microhub.hub import create_app

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "lan_url", "serve"]

DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - phones on the event Wi-Fi must reach the hub
DEFAULT_PORT = 8420


def lan_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """The URL a phone on the same network should open (no packets are sent to find it)."""
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104
        return f"http://{host}:{port}"
    address = "127.0.0.1"
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            candidate = str(info[4][0])
            if not candidate.startswith("127."):
                address = candidate
                break
    except OSError:
        pass
    return f"http://{address}:{port}"


def run_server(data: Path, *, host: str, port: int, banner: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests finish and every write is committed."""
    hub = open_from(data)  # fail early with a clear error when there is no hub
    hub.close()
    app = create_app(data)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    if banner:
        click.echo(banner, err=False)
    uvicorn.Server(config).run()


@click.command()
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    envvar="MICROHUB_HOST",
    help="Address to listen on (0.0.0.0: every interface, so phones on the Wi-Fi can connect).",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(1, 65535),
    envvar="MICROHUB_PORT",
    help="TCP port.",
)
@hub_command
def serve(data: Path, as_json: bool, host: str, port: int) -> None:
    """Serve the point of sale (PWA at /) and the device API (/api/v1/) until Ctrl-C.

    Pair a phone with 'microhub device add --name NAME --role cashier' and scan the QR code.
    Stopping (Ctrl-C or SIGTERM) lets requests in flight finish; every acknowledged sale is
    already committed to disk.
    """
    url = lan_url(host, port)
    open_from(data).close()  # no hub here: a clear error before anything is printed
    if as_json:
        Out(True).emit({"url": url, "host": host, "port": port, "data_dir": str(data)})
        banner = None
    else:
        banner = f"microhub serving {data} on {url}  (API docs: {url}/docs; Ctrl-C stops)"
    run_server(data, host=host, port=port, banner=banner)
