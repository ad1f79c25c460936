"""Proxies for the tests, on 127.0.0.1, in front of the fake Telegram (tests/telegram/fake_mtproto).

- `RelayProxy`: SOCKS5 (RFC 1928, with user name and password per RFC 1929), SOCKS4(a) and
  HTTP CONNECT, told apart by the first byte. It connects to the address the client asks for,
  through `routes` first: a test gives Telethon an address that is not reachable directly
  (TEST-NET-1, RFC 5737), so only a connection through the proxy can get to the fake.
- `MTProxyRelay`: an MTProxy in "direct" mode. It reads the client's obfuscated2 header, derives
  the stream keys with the secret mixed in (SHA-256 of key part + secret), checks the transport
  tag, and relays the decrypted stream to the fake in plain intermediate framing. A client with
  another secret decrypts to a garbage tag: the relay drops it, as an MTProxy does.

Both count what they relayed, so a test can tell that every connection went through them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Address = tuple[str, int]

# A documentation address (RFC 5737): nothing answers there.
UNREACHABLE: Address = ("192.0.2.1", 443)


@dataclass
class Relayed:
    protocol: str  # "socks5", "socks4", "http", "mtproxy"
    target: Address  # what the client asked for (MTProxy: the data centre's address)
    user: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class _Server:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.relayed: list[Relayed] = []
        self.refused: list[str] = []  # why connections were turned away
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, change: Any) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(change(data))
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    to_upstream: Any = bytes,
    to_client: Any = bytes,
) -> None:
    """Both directions until either side closes."""
    up = asyncio.create_task(_pipe(client[0], upstream[1], to_upstream))
    down = asyncio.create_task(_pipe(upstream[0], client[1], to_client))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        upstream[1].close()


class RelayProxy(_Server):
    """SOCKS5 / SOCKS4 / HTTP CONNECT. `users` maps user names to passwords (SOCKS5 and HTTP
    require one of them when it is not empty); SOCKS4 only records its user id."""

    def __init__(
        self, users: dict[str, str] | None = None, routes: dict[Address, Address] | None = None
    ) -> None:
        super().__init__()
        self.users = users or {}
        self.routes = routes or {}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.readexactly(1)
        if first == b"\x05":
            result = await self._socks5(reader, writer)
        elif first == b"\x04":
            result = await self._socks4(reader, writer)
        else:
            result = await self._http(first, reader, writer)
        if result is None:
            return
        relayed, reply = result
        try:
            address = self.routes.get(relayed.target, relayed.target)
            upstream = await asyncio.open_connection(*address)
        except OSError:
            self.refused.append(f"{relayed.protocol}: cannot reach {relayed.target}")
            writer.write(reply(False))
            await writer.drain()
            return
        self.relayed.append(relayed)
        writer.write(reply(True))
        await writer.drain()
        await _splice((reader, writer), upstream)

    def _check(self, user: str | None, password: str | None) -> bool:
        return not self.users or (user in self.users and self.users[user] == password)

    async def _socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        methods = await reader.readexactly((await reader.readexactly(1))[0])
        wanted = 0x02 if self.users else 0x00
        if wanted not in methods:
            self.refused.append(f"socks5: no acceptable method in {list(methods)}")
            writer.write(b"\x05\xff")
            return None
        writer.write(bytes([5, wanted]))
        user = None
        if wanted == 0x02:  # RFC 1929
            if (await reader.readexactly(1)) != b"\x01":
                return None
            user = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            if not self._check(user, password):
                self.refused.append(f"socks5: wrong password for {user!r}")
                writer.write(b"\x01\x01")
                await writer.drain()
                return None
            writer.write(b"\x01\x00")
        version, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        port = struct.unpack(">H", await reader.readexactly(2))[0]
        if (version, command) != (5, 1):
            writer.write(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
            return None

        def reply(ok: bool) -> bytes:
            return b"\x05" + (b"\x00" if ok else b"\x04") + b"\x00\x01" + bytes(6)

        return Relayed("socks5", (host, port), user), reply

    async def _socks4(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        command, port, raw_ip = struct.unpack(">BH4s", await reader.readexactly(7))
        user = (await reader.readuntil(b"\0"))[:-1].decode()
        host = str(ipaddress.IPv4Address(raw_ip))
        if raw_ip[:3] == b"\0\0\0" and raw_ip[3]:  # SOCKS4a: the host name follows
            host = (await reader.readuntil(b"\0"))[:-1].decode()

        def reply(ok: bool) -> bytes:
            return b"\x00" + (b"\x5a" if ok else b"\x5b") + bytes(6)

        if command != 1:
            writer.write(reply(False))
            return None
        return Relayed("socks4", (host, port), user or None), reply

    async def _http(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Any:
        head = (first + await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        user = password = None
        auth = headers.get("Proxy-Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return None
        if not self._check(user, password):
            self.refused.append(f"http: wrong credentials for {user!r}")
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            await writer.drain()
            return None
        host, _, port = target.rpartition(":")

        def reply(ok: bool) -> bytes:
            if ok:
                return b"HTTP/1.1 200 Connection established\r\n\r\n"
            return b"HTTP/1.1 502 Bad Gateway\r\n\r\n"

        return Relayed("http", (host.strip("[]"), int(port)), user), reply


def _ctr(key: bytes, iv: bytes) -> Any:
    return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()  # CTR: the same both ways


_TAGS = {b"\xee\xee\xee\xee": "intermediate", b"\xdd\xdd\xdd\xdd": "padded-intermediate"}


class MTProxyRelay(_Server):
    """An MTProxy with one 16-byte `secret` that relays every data centre to `upstream`."""

    def __init__(self, secret: bytes, upstream: Address) -> None:
        super().__init__()
        assert len(secret) == 16
        self.secret = secret
        self.upstream = upstream

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header = await reader.readexactly(64)
        back = header[8:56][::-1]
        decrypt = _ctr(hashlib.sha256(header[8:40] + self.secret).digest(), header[40:56])
        encrypt = _ctr(hashlib.sha256(back[:32] + self.secret).digest(), back[32:48])
        plain = decrypt.update(header)
        tag = plain[56:60]
        if tag not in _TAGS:  # another secret (or not an MTProxy client): drop it
            self.refused.append(f"mtproxy: unknown transport tag {tag.hex()}")
            return
        dc_id = struct.unpack("<h", plain[60:62])[0]
        upstream = await asyncio.open_connection(*self.upstream)
        self.relayed.append(
            Relayed("mtproxy", self.upstream, detail={"dc_id": dc_id, "framing": _TAGS[tag]})
        )
        upstream[1].write(tag)  # the fake reads the framing from these 4 bytes
        await _splice((reader, writer), upstream, decrypt.update, encrypt.update)
