"""A fault-injecting TCP proxy (asyncio) for tests and benchmarks of sync under bad networks.

Put it between a hub and its cloud (loopback only) and break the link on purpose:

* ``down()`` / ``up()`` — refuse new connections and cut open ones, or let them through;
* ``delay_s`` — hold every chunk this long in each direction;
* ``cut_responses = n`` — for the next ``n`` connections, forward the request, wait until the
  server starts answering (so it has committed), then cut the connection before the client sees
  the answer;
* ``flap(up_s, down_s)`` — alternate up and down until ``steady()``.

It runs its own event loop in a background thread, so synchronous tests can drive it.
``bytes_up`` / ``bytes_down`` count what went through.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

__all__ = ["FaultProxy"]


class FaultProxy:
    def __init__(self, *, target_port: int, listen_port: int = 0, target_host: str = "127.0.0.1"):
        if target_host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fault proxy only targets loopback addresses")
        self.target_host = target_host
        self.target_port = target_port
        self.listen_port = listen_port
        self.delay_s = 0.0
        self.cut_responses = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        self.cuts = 0
        self._up = True
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._flapper: asyncio.Task[None] | None = None

    # -- control (thread-safe) ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def down(self) -> None:
        self._up = False
        self._loop.call_soon_threadsafe(self._cut_all)

    def up(self) -> None:
        self._up = True

    def flap(self, *, up_s: float, down_s: float) -> None:
        def begin() -> None:
            self._flapper = self._loop.create_task(self._flap(up_s, down_s))

        self._loop.call_soon_threadsafe(begin)

    def steady(self) -> None:
        def end() -> None:
            if self._flapper is not None:
                self._flapper.cancel()
            self._up = True

        self._loop.call_soon_threadsafe(end)

    # -- the loop side --------------------------------------------------------------------------
    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port)
        self.listen_port = int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        if self._flapper is not None:
            self._flapper.cancel()
        self._cut_all()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _flap(self, up_s: float, down_s: float) -> None:
        while True:
            self._up = True
            await asyncio.sleep(up_s)
            self._up = False
            self._cut_all()
            await asyncio.sleep(down_s)

    def _cut_all(self) -> None:
        for writer in list(self._open):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._open.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.transport.abort()
            return
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        cut = False
        if self.cut_responses > 0:
            self.cut_responses -= 1
            cut = True

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upward: bool) -> None:
            try:
                while True:
                    chunk = await src.read(65536)
                    if not chunk:
                        break
                    if not upward and cut:
                        self.cuts += 1
                        break  # the server answered (it committed): the client never sees it
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    if not self._up:
                        break
                    if upward:
                        self.bytes_up += len(chunk)
                    else:
                        self.bytes_down += len(chunk)
                    dst.write(chunk)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                for w in (writer, up_writer):
                    with contextlib.suppress(Exception):
                        w.transport.abort()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        self._open.discard(writer)
        self._open.discard(up_writer)
