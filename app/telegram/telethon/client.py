"""Building the TelegramClient: what it takes to reach Telegram (`TelethonConfig`), the extra
server key, the proxy or MTProxy transport, the connection fenced by the instance's lease, and
the client that tells when every update it took in has been handled.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from python_socks import ProxyType
from telethon import TelegramClient
from telethon.crypto import rsa
from telethon.network import ConnectionTcpFull
from telethon.network.connection import (
    ConnectionTcpMTProxyIntermediate,
    ConnectionTcpMTProxyRandomizedIntermediate,
)

from app.settings import Proxy, Settings
from app.telegram import port
from app.telegram.telethon import limits
from app.telegram.telethon.session import DatabaseSession


@dataclass(frozen=True)
class TelethonConfig:
    """What it takes to reach Telegram (or any MTProto server: `server`, `dc_id`, key)."""

    api_id: int
    api_hash: str
    server: tuple[str, int] | None = None
    dc_id: int = 2
    public_key_pem: str | None = None
    device_model: str = "tgw gateway"
    app_version: str = "tgw"
    # Tests swap the transport framing (Telethon Connection class); None: TCP full.
    connection: Any = None
    # The instance's proxy ([[instances]] proxy); None: straight to Telegram.
    proxy: Proxy | None = None

    def __post_init__(self) -> None:
        # An MTProxy is a transport of its own (it sets the Connection class): it cannot be
        # combined with another `connection`, and neither silently replaces the other.
        if self.connection is not None and self.proxy is not None and self.proxy.is_mtproxy:
            raise ValueError(
                "an MTProxy sets the connection class itself: give `connection` or an MTProxy"
                " `proxy`, not both"
            )


def telethon_config(settings: Settings) -> TelethonConfig | None:
    """The [telegram] section as a TelethonConfig; None when api_id/api_hash are not set."""
    tg = settings.telegram
    if tg.api_id is None or not tg.api_hash:
        return None
    server: tuple[str, int] | None = None
    if tg.server:
        host, _, port_text = tg.server.rpartition(":")
        if not host or not port_text.isdigit():
            raise ValueError(f"[telegram] server must be host:port, not {tg.server!r}")
        server = (host.strip("[]"), int(port_text))
    pem = None
    if tg.public_key_file:
        pem = _pkcs1_pem(Path(tg.public_key_file).expanduser().read_bytes())
    return TelethonConfig(
        api_id=tg.api_id, api_hash=tg.api_hash, server=server, dc_id=tg.dc_id, public_key_pem=pem
    )


def _pkcs1_pem(pem: bytes) -> str:
    """Telethon wants PKCS#1 ("BEGIN RSA PUBLIC KEY"); accept an SPKI "BEGIN PUBLIC KEY" too."""
    key = serialization.load_pem_public_key(pem)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()


_added_keys: set[str] = set()


def _trust_public_key(pem: str) -> None:
    """Teach Telethon an extra server RSA key (a test DC or a self-hosted MTProto server)."""
    if pem in _added_keys:
        return
    rsa.add_key(pem, old=False)
    _added_keys.add(pem)


class _GatewayClient(TelegramClient):  # type: ignore[misc]
    """TelegramClient that knows when every update it took in has been handled.

    Telethon applies updates to its update state before dispatching them; with
    `sequential_updates=True` it dispatches them one at a time from its update loop. Counting
    what `_preprocess_updates` hands over and what `_dispatch_update` finished tells when the
    state Telethon holds is covered by handled updates: only then is it written down.
    """

    def __init__(
        self,
        *args: Any,
        on_settled: Callable[[], None],
        on_reconnected: Callable[[], Awaitable[None]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tgw_pending = 0
        self._tgw_on_settled = on_settled
        self._tgw_on_reconnected = on_reconnected

    async def _handle_auto_reconnect(self) -> None:
        # Telethon reconnects with a new MTProto session and does not ask for what it missed
        # meanwhile (Telethon issues #1125, #4235): ask now.
        await super()._handle_auto_reconnect()
        try:
            await self.catch_up()
        finally:
            await self._tgw_on_reconnected()

    # Telethon 1.39 preprocesses synchronously, later versions asynchronously.
    if inspect.iscoroutinefunction(TelegramClient._preprocess_updates):

        async def _preprocess_updates(self, updates: Any, users: Any, chats: Any) -> Any:
            self.tgw_pending += len(updates)
            return await super()._preprocess_updates(updates, users, chats)

    else:

        def _preprocess_updates(self, updates: Any, users: Any, chats: Any) -> Any:  # type: ignore[misc]
            self.tgw_pending += len(updates)
            return super()._preprocess_updates(updates, users, chats)

    async def _dispatch_update(self, update: Any) -> None:
        try:
            await super()._dispatch_update(update)
        finally:
            self.tgw_pending -= 1
            if self.tgw_pending <= 0:
                self.tgw_pending = 0
                self._tgw_on_settled()


def _proxy_kwargs(proxy: Proxy | None) -> dict[str, Any]:
    """TelegramClient arguments for an instance's proxy ({} without one).

    SOCKS5, SOCKS4 and HTTP CONNECT go through python-socks, which Telethon uses when it is
    installed (remote DNS; Telegram's addresses are IPs anyway). An MTProxy is a transport:
    obfuscated2 keyed with the secret, intermediate framing, random padding for a "dd" secret;
    it sets `connection`, which is why TelethonConfig refuses it next to a `connection` of its
    own. Fake-TLS ("ee") secrets are refused when the config is read: Telethon 1.x cannot.
    """
    if proxy is None:
        return {}
    if proxy.is_mtproxy:
        assert proxy.secret is not None
        connection = (
            ConnectionTcpMTProxyRandomizedIntermediate
            if proxy.padded
            else ConnectionTcpMTProxyIntermediate
        )
        # Telethon takes the secret as hex, drops a leading "dd" or "ee" and keeps 16 bytes:
        # a plain secret that itself starts with dd or ee needs that prefix to pass unchanged.
        secret = proxy.secret.hex()
        if proxy.padded or secret[:2] in ("dd", "ee"):
            secret = "dd" + secret
        return {"connection": connection, "proxy": (proxy.host, proxy.port, secret)}
    return {
        "proxy": {
            "proxy_type": proxy.scheme,
            "addr": proxy.host,
            "port": proxy.port,
            "username": proxy.username,
            "password": proxy.password,
            "rdns": True,
        }
    }


def _new_client(
    config: TelethonConfig,
    session: DatabaseSession,
    *,
    on_settled: Callable[[], None] | None = None,
    on_reconnected: Callable[[], Awaitable[None]] | None = None,
    live: bool = False,
    fence: port.SessionFence | None = None,
) -> Any:
    if config.public_key_pem:
        _trust_public_key(config.public_key_pem)
    if config.server is not None and not session.server_address:
        session.set_dc(config.dc_id, config.server[0], config.server[1])
    kwargs: dict[str, Any] = {
        "device_model": config.device_model,
        "system_version": "Linux",
        "app_version": config.app_version,
        "raise_last_call_error": True,
        "timeout": limits.CONNECT_TIMEOUT_S,
        "receive_updates": True,
    }
    if config.connection is not None:
        kwargs["connection"] = config.connection
    kwargs.update(_proxy_kwargs(config.proxy))
    if fence is not None:
        kwargs["connection"] = _fenced_connection(
            kwargs.get("connection", ConnectionTcpFull), fence
        )
    if live:
        kwargs.update(
            # One at a time and in order: "Hi" is stored before the contact card that follows.
            sequential_updates=True,
            catch_up=True,
            # Every FloodWait goes to the pipeline, which pauses the queue in the database.
            flood_sleep_threshold=0,
            # The send worker retries with the same random_id; Telethon itself does not.
            request_retries=0,
            # Telethon reconnects a few times by itself, then the supervisor takes over.
            connection_retries=2,
            retry_delay=1,
            auto_reconnect=True,
        )
        client = _GatewayClient(
            session,
            config.api_id,
            config.api_hash,
            on_settled=on_settled or _noop,
            on_reconnected=on_reconnected or _anoop,
            **kwargs,
        )
    else:
        kwargs.update(flood_sleep_threshold=0, request_retries=2)
        client = TelegramClient(session, config.api_id, config.api_hash, **kwargs)
    # Customer text goes out exactly as written, never parsed as Markdown.
    client.parse_mode = None
    return client


def _fenced_connection(base: Any, fence: port.SessionFence) -> Any:
    """The client's connection class, refusing to open a connection while the lease is not
    held: Telethon reconnects by itself, and must not do so in a process that lost the lease
    (after a kill -STOP, say)."""

    class FencedConnection(base):  # type: ignore[misc]
        # Telethon's own signature.
        async def connect(self, timeout: Any = None, ssl: Any = None) -> None:  # noqa: ASYNC109
            if not fence.valid():
                raise ConnectionError("this process does not hold the instance's lease")
            await super().connect(timeout=timeout, ssl=ssl)

    return FencedConnection


def _noop() -> None:
    return None


async def _anoop() -> None:
    return None


async def _proxy_refusal(proxy: Proxy | None, session: DatabaseSession) -> str | None:
    """Why a SOCKS or HTTP proxy will not connect to the session's data centre (None: it will,
    or there is no such proxy). Telethon retries a refused proxy connection and then reports
    only "Connection to Telegram failed"; one handshake of our own tells the admin why."""
    if proxy is None or proxy.is_mtproxy or not session.server_address:
        return None
    # Imported only now, as Telethon does: it swaps python-socks' error classes before the
    # first import, so that its retry loop sees them as connection errors.
    from python_socks.async_.asyncio import Proxy as SocksProxy

    kind = {"socks5": ProxyType.SOCKS5, "socks4": ProxyType.SOCKS4, "http": ProxyType.HTTP}
    probe = SocksProxy.create(
        kind[proxy.scheme], proxy.host, proxy.port, proxy.username, proxy.password, True
    )
    try:
        sock = await probe.connect(
            dest_host=session.server_address, dest_port=session.port, timeout=limits.PROXY_PROBE_S
        )
    except Exception as exc:  # python-socks' errors (Telethon swaps some of their classes)
        return str(exc) or repr(exc)
    sock.close()
    return None
