"""``serve``: run the hub's web app (API + point-of-sale PWA) on the LAN."""

from __future__ import annotations

import socket
from pathlib import Path

import click
import uvicorn

from microhub.cli.common import Out, hub_command, open_from
from microhub.errors import ValidationError
from microhub.hub import create_app
from microhub.hub.background import default_tasks

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "lan_url", "run_server", "serve"]

DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - phones on the event Wi-Fi must reach the hub
DEFAULT_PORT = 8420


def lan_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, tls: bool = False) -> str:
    """The URL a phone on the same network should open (no packets are sent to find it)."""
    scheme = "https" if tls else "http"
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104
        return f"{scheme}://{host}:{port}"
    address = "127.0.0.1"
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            candidate = str(info[4][0])
            if not candidate.startswith("127."):
                address = candidate
                break
    except OSError:
        pass
    return f"{scheme}://{address}:{port}"


def run_server(
    data: Path,
    *,
    host: str,
    port: int,
    banner: str | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests finish and every write is committed."""
    hub = open_from(data)  # fail early with a clear error when there is no hub
    settings = hub.settings
    hub.close()
    app = create_app(data, background=default_tasks(settings))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=10,
        server_header=False,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
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
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="PEM certificate: serve HTTPS (phones need HTTPS for the offline app; see docs/hub.md).",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="PEM private key for --tls-cert.",
)
@hub_command
def serve(
    data: Path, as_json: bool, host: str, port: int, tls_cert: Path | None, tls_key: Path | None
) -> None:
    """Serve the point of sale (PWA at /) and the device API (/api/v1/) until Ctrl-C.

    Pair a phone with 'microhub device add --name NAME --role cashier' and scan the QR code.
    Phones other than this computer need HTTPS (--tls-cert/--tls-key) for the offline app.
    Stopping (Ctrl-C or SIGTERM) lets requests in flight finish; every acknowledged sale is
    already committed to disk.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ValidationError(
            "give both --tls-cert and --tls-key, or neither", field="tls_key", value=None
        )
    url = lan_url(host, port, tls=tls_cert is not None)
    open_from(data).close()  # no hub here: a clear error before anything is printed
    if as_json:
        Out(True).emit({"url": url, "host": host, "port": port, "data_dir": str(data)})
        banner = None
    else:
        banner = f"microhub serving {data} on {url}  (API docs: {url}/docs; Ctrl-C stops)"
    run_server(data, host=host, port=port, banner=banner, tls_cert=tls_cert, tls_key=tls_key)
