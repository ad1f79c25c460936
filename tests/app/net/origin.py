"""Test doubles for outgoing HTTP: a real origin server on 127.0.0.1, a network that records
where the gateway connects (and sends "public" addresses to that server), and resolvers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore

PUBLIC = "93.184.216.34"
OTHER_PUBLIC = "93.184.216.35"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

Handler = Callable[["Origin", asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Seen:
    method: str
    path: str
    host: str | None


@dataclass
class Origin:
    """An HTTP/1.1 server: `routes` maps a path to a handler that writes the whole answer."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    sent: int = 0  # body bytes written by `endless`
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
            headers = dict(
                (name.strip().lower(), value.strip())
                for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:])
                if name
            )
            path = urlsplit(target).path
            self.requests.append(Seen(method, path, headers.get("host")))
            await self.routes.get(path, status(404))(self, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _head(code: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {code} X", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def file(data: bytes, content_type: str = "application/octet-stream") -> Handler:
    async def answer(origin: Origin, writer: asyncio.StreamWriter) -> None:
        headers = {"content-type": content_type, "content-length": str(len(data))}
        writer.write(_head(200, headers) + data)
        await writer.drain()

    return answer


def status(code: int) -> Handler:
    return file_with_status(code, b"nope")


def file_with_status(code: int, body: bytes) -> Handler:
    async def answer(origin: Origin, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(code, {"content-length": str(len(body))}) + body)
        await writer.drain()

    return answer


def raw(answer_bytes: bytes) -> Handler:
    """Writes these bytes as the whole answer (broken ones included), then closes."""

    async def answer(origin: Origin, writer: asyncio.StreamWriter) -> None:
        writer.write(answer_bytes)
        await writer.drain()

    return answer


def redirect(location: str, code: int = 302) -> Handler:
    async def answer(origin: Origin, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(code, {"location": location, "content-length": "0"}))
        await writer.drain()

    return answer


def endless(declared: int | None = None, cap: int = 256 * 1024 * 1024) -> Handler:
    """A body that goes on (up to `cap` bytes) for as long as the client reads it."""

    async def answer(origin: Origin, writer: asyncio.StreamWriter) -> None:
        headers = {"content-type": "application/pdf", "connection": "close"}
        if declared is not None:
            headers["content-length"] = str(declared)
        writer.write(_head(200, headers) + b"%PDF-1.4\n")
        chunk = b"0" * 65536
        while origin.sent < cap:
            writer.write(chunk)
            origin.sent += len(chunk)
            await writer.drain()

    return answer


def drip(every_s: float = 0.05) -> Handler:
    """Announces 1 MB and sends one byte at a time, never finishing."""

    async def answer(origin: Origin, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, {"content-length": "1000000"}))
        while True:
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(every_s)

    return answer


@contextlib.asynccontextmanager
async def running(**routes: Handler) -> AsyncIterator[Origin]:
    """An origin serving `routes` ("cat_png" is the path /cat.png, "go" is /go)."""
    origin = Origin({"/" + name.replace("_", "."): handler for name, handler in routes.items()})
    await origin.start()
    try:
        yield origin
    finally:
        await origin.stop()


class RoutedNetwork(httpcore.AsyncNetworkBackend):
    """Records every address the gateway connects to. The addresses in `to_local` are this
    test's origin (the connection goes to 127.0.0.1, same port); any other is unreachable."""

    def __init__(self, to_local: Iterable[str] = (PUBLIC,)) -> None:
        self.to_local = set(to_local)
        self.connects: list[tuple[str, int]] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if host not in self.to_local:
            raise httpcore.ConnectError(f"[Errno 111] Connection refused ({host})")
        return await self._real.connect_tcp("127.0.0.1", port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


class Answers:
    """A resolver that gives its answers in turn (the last one again when they run out) and
    counts the lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        index = min(len(self.calls), len(self.answers)) - 1
        return list(self.answers[index])
