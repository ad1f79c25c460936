"""A tiny round-robin TCP proxy on 127.0.0.1: the stand-in for deploy/nginx.conf in tests.

Each connection it accepts goes to the next backend in turn, bytes piped both ways until either
side closes. It counts the connections each backend got.

    proxy = RoundRobinProxy([port_a, port_b])
    await proxy.start()          # proxy.port
    ...
    await proxy.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter


class RoundRobinProxy:
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.connections: Counter[int] = Counter()
        self._next = itertools.cycle(backends)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        backend = next(self._next)
        self.connections[backend] += 1
        try:
            server_in, server_out = await asyncio.open_connection("127.0.0.1", backend)
        except OSError:
            client_out.close()
            return
        pipes = [
            asyncio.create_task(self._pipe(client_in, server_out)),
            asyncio.create_task(self._pipe(server_in, client_out)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for writer in (client_out, server_out):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            with contextlib.suppress(Exception):
                sink.write_eof()
