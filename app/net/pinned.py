"""HTTP clients whose connections go to the address that was checked, and nowhere else.

Checking a URL's host and then letting the HTTP client resolve it again leaves a gap: the DNS
answer may change in between (DNS rebinding: public for the check, 169.254.169.254 for the
connection). Here the check happens where the connection is made: `PinnedBackend`, an httpcore
network backend, resolves the host once (with the injectable resolver), checks every address
(`targets.checked_addresses`), and opens the TCP connection to a checked address itself.
httpcore still knows the connection by the URL's host, so the Host header, the TLS server name
(SNI) and the certificate check are all for the real hostname, not for the IP.

A connection kept alive in the pool is reused only for its own origin; it was made to an
address checked when it was opened.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import certifi
import httpcore
import httpx

from app.net.targets import Resolver, checked_addresses

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


@dataclass(frozen=True)
class Pinning:
    """Where the pinned connections of one client may go."""

    resolve: Resolver
    allow_private: bool
    # The setting a refusal names (it would allow the address).
    setting: str


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the checked addresses of a host, in the order they were resolved.

    `inner` opens the TCP connections (the real network; tests pass one that records where it
    was asked to connect). A TargetError raised here is not an httpcore error: httpx hands it
    on as it is, so callers tell a refused target from a network failure.
    """

    def __init__(self, pinning: Pinning, inner: httpcore.AsyncNetworkBackend | None = None):
        self._pinning = pinning
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pinning = self._pinning
        addresses = await checked_addresses(
            host,
            allow_private=pinning.allow_private,
            resolve=pinning.resolve,
            setting=pinning.setting,
        )
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # every one of them checked: any may be tried
            try:
                return await self._inner.connect_tcp(
                    address.split("%", 1)[0],
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # checked_addresses never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("pinned connections are TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """What httpx verifies with by default (certifi's roots), built once, on first use."""
    return ssl.create_default_context(cafile=certifi.where())


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool whose connections are pinned.

    httpx takes no network backend of its own, so the pool it built is replaced by one with
    the same limits and a `PinnedBackend` (its `_pool` is the one attribute this relies on:
    `handle_async_request` sends through it, in every httpx version from 0.27).
    """

    def __init__(
        self,
        pinning: Pinning,
        *,
        limits: httpx.Limits,
        network: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        context = ssl_context or default_ssl_context()
        super().__init__(verify=context, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(pinning, network),
        )


def pinned_client(
    pinning: Pinning,
    *,
    limits: httpx.Limits | None = None,
    network: httpcore.AsyncNetworkBackend | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """An httpx client whose every connection is checked and pinned; it never follows redirects
    by itself (a caller that follows them sees, and checks, each hop) and ignores proxy
    variables from the environment (a proxy would connect where it likes)."""
    transport = PinnedTransport(
        pinning,
        limits=limits or httpx.Limits(),
        network=network,
        ssl_context=ssl_context,
    )
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
