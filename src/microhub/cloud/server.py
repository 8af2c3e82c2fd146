"""Running the cloud: as a uvicorn server (``microhub cloud serve``) or embedded in a thread.

:class:`EmbeddedCloud` is what ``microhub demo`` and the tests use: a real uvicorn server on a
loopback port, in a background thread of the current process, over any store URL.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from microhub.cloud import open_store
from microhub.cloud.app import create_app
from microhub.cloud.store import CloudStore
from microhub.errors import ConfigurationError

__all__ = ["EmbeddedCloud", "app_from_env", "free_port", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DB_ENV = "MICROHUB_CLOUD_DB"


def app_from_env() -> FastAPI:
    """The app factory each uvicorn worker process calls (``serve(workers=N)``)."""
    return create_app(open_store(os.environ[DB_ENV], migrate=False))


def serve(*, db: str, host: str = "127.0.0.1", port: int = 8700, workers: int = 1) -> None:
    """Serve the cloud app until interrupted; ``workers`` > 1 runs that many processes."""
    store = open_store(db)  # migrates once, before any worker starts
    if workers > 1:
        store.close()
        os.environ[DB_ENV] = db
        uvicorn.run(
            "microhub.cloud.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
        return
    try:
        uvicorn.run(create_app(store), host=host, port=port, log_level="warning", access_log=False)
    finally:
        store.close()


class EmbeddedCloud:
    """A cloud server in a background thread: ``with EmbeddedCloud(db=URL) as cloud: cloud.url``."""

    def __init__(
        self, *, db: str, port: int | None = None, store: CloudStore | None = None
    ) -> None:
        self.store = store or open_store(db)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(self.store),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="microhub-cloud", daemon=True)

    def start(self) -> EmbeddedCloud:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(
                    f"the embedded cloud did not start on port {self.port}",
                    code="cloud_not_started",
                    details={"port": self.port},
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.store.close()

    def __enter__(self) -> EmbeddedCloud:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
