"""The Telethon backend: the ONLY module that imports telethon (ruff TID251 enforces it).

Four parts, each converting between Telethon and the port (app/telegram/port.py):
- `DatabaseSession`: a Telethon session kept in the gateway's database, sealed at rest, with
  the update state and entity cache that catching up after downtime needs
  (reference/telethon-notes.md §1.4); a StringSession would lose both;
- `to_port_error`: Telethon's errors onto the port's error tree;
- `TelethonBackend`: one logged-in account: sends with the pipeline's random_id, turns updates
  into port updates, reconnects, notices revocation, catches up after downtime;
- `TelethonLogin`: the login steps (code, 2FA password, QR) for the terminal and the admin API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import inspect
import io
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from python_socks import ProxyType
from telethon import TelegramClient, errors, events, functions
from telethon.crypto import AuthKey, rsa
from telethon.network import ConnectionTcpFull
from telethon.network.connection import (
    ConnectionTcpMTProxyIntermediate,
    ConnectionTcpMTProxyRandomizedIntermediate,
)
from telethon.sessions import MemorySession
from telethon.tl import types

from app.settings import Proxy, Settings
from app.telegram import port
from app.telegram.notices import login_alert_from_notice
from app.telegram.session_store import SessionStore, SessionWriter, Snapshot
from app.telegram.spambot import SPAMBOT_USERNAME, START_COMMAND, classify

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 1


class DatabaseSession(MemorySession):  # type: ignore[misc]
    """Telethon's in-memory session, persisted as a snapshot through a SessionWriter.

    Lookups stay in memory (Telethon calls `process_entities` after every request); `save()`
    and `close()` hand the current state to the writer, `delete()` (log_out) forgets it.
    """

    def __init__(self, writer: SessionWriter | None, snapshot: Snapshot | None = None) -> None:
        super().__init__()
        self._writer = writer
        # The account logged in with this key (None while a login is under way): a running
        # gateway only takes over a session that has one.
        self.account: dict[str, Any] | None = None
        # Set once the key stopped working (revoked from a phone): kept for the record, never
        # used again; a new login replaces the whole snapshot.
        self.revoked: str | None = None
        # Why: "revoked", or the account's condition ("banned", "deactivated").
        self.revoked_status: str | None = None
        # When true, Telethon's own writes of the account's update state are ignored: Telethon
        # advances it as soon as updates arrive, before the gateway has stored them. The
        # backend records the state itself once everything before it was handled
        # (`commit_update_state`), so a crash replays rather than loses (dedupe by message id).
        self.guard_update_state = False
        if snapshot is not None:
            self.restore(snapshot)

    def set_update_state(self, entity_id: int, state: Any) -> None:
        if entity_id == 0 and self.guard_update_state:
            return
        super().set_update_state(entity_id, state)

    def commit_update_state(self, state: Any) -> None:
        """Record the account's update state (everything up to it has been handled) and save."""
        super().set_update_state(0, state)
        self.save()

    def stored_update_state(self) -> Any:
        return self._update_states.get(0)

    def snapshot(self) -> Snapshot:
        key = self._auth_key.key if self._auth_key is not None else None
        return {
            "version": SNAPSHOT_VERSION,
            "dc_id": self._dc_id,
            "server_address": self._server_address,
            "port": self._port,
            "auth_key": base64.b64encode(key).decode() if key else None,
            "takeout_id": self._takeout_id,
            # Rows hold None in places, so sort by the id alone.
            "entities": sorted((list(row) for row in self._entities), key=lambda r: r[0]),
            "states": {
                str(entity_id): [
                    state.pts,
                    state.qts,
                    int(state.date.timestamp()),
                    state.seq,
                ]
                for entity_id, state in self._update_states.items()
            },
            "account": self.account,
            "revoked": self.revoked,
            "revoked_status": self.revoked_status,
        }

    def restore(self, snapshot: Snapshot) -> None:
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown session snapshot version {snapshot.get('version')!r}")
        self._dc_id = snapshot["dc_id"]
        self._server_address = snapshot["server_address"]
        self._port = snapshot["port"]
        raw_key = snapshot["auth_key"]
        self._auth_key = AuthKey(base64.b64decode(raw_key)) if raw_key else None
        self._takeout_id = snapshot["takeout_id"]
        self._entities = {tuple(row) for row in snapshot["entities"]}
        self._update_states = {
            int(entity_id): types.updates.State(
                pts=pts,
                qts=qts,
                date=dt.datetime.fromtimestamp(date, dt.UTC),
                seq=seq,
                unread_count=0,
            )
            for entity_id, (pts, qts, date, seq) in snapshot["states"].items()
        }
        self.account = snapshot.get("account")
        self.revoked = snapshot.get("revoked")
        self.revoked_status = snapshot.get("revoked_status")

    def save(self) -> None:
        if self._writer is not None:
            self._writer.submit(self.snapshot())

    def close(self) -> None:
        self.save()

    def delete(self) -> None:
        if self._writer is not None:
            self._writer.submit(None)

    def detach(self) -> None:
        """Store nothing more: the instance's session was replaced or logged out."""
        self._writer = None

    def __repr__(self) -> str:  # never show the auth key in logs
        return f"DatabaseSession(dc={self._dc_id}, authorized={self._auth_key is not None})"

    def clone(self, to_instance: Any = None) -> MemorySession:
        return MemorySession()  # Telethon's CDN helper only needs an empty session


# --- errors: Telethon's to the port's (matched by explicit class, never by base class alone:
# SessionPasswordNeededError is an UnauthorizedError too, RandomIdDuplicateError a ServerError;
# reference/telethon-notes.md §4.4) ---

_RECIPIENT_ERRORS: tuple[tuple[tuple[type[Exception], ...], type[port.RecipientError]], ...] = (
    ((errors.UserIsBlockedError, errors.YouBlockedUserError), port.UserBlocked),
    ((errors.InputUserDeactivatedError,), port.UserDeactivated),
    ((errors.UserPrivacyRestrictedError, errors.ChatWriteForbiddenError), port.PrivacyRestricted),
    (
        (
            errors.PeerIdInvalidError,
            errors.UserIdInvalidError,
            errors.ChatIdInvalidError,
            errors.ChannelInvalidError,
            errors.ChannelPrivateError,
        ),
        port.PeerInvalid,
    ),
)
_REJECTED = (
    errors.MessageTooLongError,
    errors.MessageEmptyError,
    errors.MediaCaptionTooLongError,
    errors.EntityBoundsInvalidError,
    errors.PhotoInvalidDimensionsError,
    errors.MediaEmptyError,
)
_SESSION_GONE = (
    errors.AuthKeyUnregisteredError,
    errors.SessionRevokedError,
    errors.SessionExpiredError,
    errors.AuthKeyDuplicatedError,
    # The server no longer knows the auth key at all (the transport answers 404).
    errors.AuthKeyNotFound,
)


def _is_frozen(exc: BaseException) -> bool:
    """FROZEN_METHOD_INVALID and its kin: newer Telethon has classes for them (a FloodError
    whose `message` says only "FLOOD"); older ones keep Telegram's text in `message`."""
    if not isinstance(exc, errors.RPCError):
        return False
    return type(exc).__name__.startswith("Frozen") or str(exc.message).startswith("FROZEN_")


def to_port_error(exc: BaseException) -> port.TelegramError:
    """The port's error for anything a Telethon call raised."""
    if isinstance(exc, port.TelegramError):
        return exc
    if isinstance(exc, errors.RandomIdDuplicateError):
        return port.AlreadySent(None)
    if isinstance(exc, errors.FloodWaitError | errors.FloodPremiumWaitError):
        return port.FloodWait(int(exc.seconds))
    if isinstance(exc, errors.SlowModeWaitError):
        return port.FloodWait(int(exc.seconds))
    if isinstance(exc, errors.PeerFloodError):
        return port.PeerFlood(str(exc))
    for classes, error in _RECIPIENT_ERRORS:
        if isinstance(exc, classes):
            return error(str(exc))
    if isinstance(exc, _REJECTED):
        return port.MessageRejected(str(exc))
    # The account's condition, where Telegram tells it.
    if isinstance(exc, errors.UserDeactivatedBanError | errors.PhoneNumberBannedError):
        return port.AccountBanned(f"Telegram banned this account ({exc.message})")
    if isinstance(exc, errors.UserDeactivatedError):
        return port.AccountDeactivated(f"the account was deleted ({exc.message})")
    if _is_frozen(exc):
        return port.AccountFrozen(
            "Telegram froze this account (FROZEN_METHOD_INVALID): it can log in but not send;"
            " appeal through @SpamBot"
        )
    if isinstance(exc, _SESSION_GONE):
        return port.SessionRevoked(str(exc))
    if isinstance(exc, errors.RPCError) and exc.code in (400, 403, 406):
        # An error Telegram gives for this request: sending it again will not help.
        return port.MessageRejected(f"{exc.code} {exc.message}")
    # Server-side trouble (500, RPC_CALL_FAIL, TIMEOUT), network loss, timeouts, the unknown:
    # retried later with the same random_id, which is always safe.
    return port.TransientError(repr(exc))


# --- connecting ---


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
        # meanwhile (reference/telethon-notes.md §9: #1125, #4235): ask now.
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
        "timeout": CONNECT_TIMEOUT_S,
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


CONNECT_TIMEOUT_S = 15
# How long a failed login waits for the proxy to say why it refused (`_proxy_refusal`).
PROXY_PROBE_S = 5
# How long `tgw serve` waits for Telegram before it starts serving HTTP all the same.
FIRST_CONNECT_WAIT_S = 5
CALL_TIMEOUT_S = 60
CATCH_UP_EVERY_S = 120
WATCH_EVERY_S = 1.0
REPORT_DOWN_AFTER_S = 3.0
LOGIN_POLL_S = 2.0
MAX_BACKOFF_S = 300.0
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
HANDLER_TRIES = 5
# Private chats whose read marks are checked after a (re)connect.
RECONCILE_DIALOGS = 200
# Asking @SpamBot: how long its reply may take, and how often the chat is looked at meanwhile.
SPAMBOT_WAIT_S = 20.0
SPAMBOT_POLL_S = 0.5
SPAMBOT_HISTORY = 10


def _account_of(user: Any) -> port.Account:
    return port.Account(
        user_id=int(user.id),
        phone=user.phone,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
    )


def _account_dict(account: port.Account) -> dict[str, Any]:
    return {
        "user_id": account.user_id,
        "phone": account.phone,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "username": account.username,
    }


def _account_from_dict(data: dict[str, Any]) -> port.Account:
    return port.Account(
        user_id=int(data["user_id"]),
        phone=data.get("phone"),
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
        username=data.get("username"),
    )


# --- the backend ---


class _OpeningAborted(Exception):
    """Opening a session was cancelled by a deliberate change (a logout, another login)."""


def _usable(snapshot: Snapshot | None) -> bool:
    """A stored session that is logged in and not revoked."""
    return snapshot is not None and bool(snapshot.get("account")) and not snapshot.get("revoked")


async def _log_out_client(instance: int, client: Any) -> bool:
    """auth.logOut on a connected client, then disconnect whatever the answer. Telethon's
    `log_out()` answers False and stays connected when Telegram refuses; that is not ignored."""
    try:
        confirmed = bool(await asyncio.wait_for(client.log_out(), CALL_TIMEOUT_S))
    except Exception as exc:
        log.warning("instance %s: log out at Telegram failed: %r", instance, exc)
        confirmed = False
    if not confirmed:
        log.warning("instance %s: Telegram did not confirm the logout", instance)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), CONNECT_TIMEOUT_S)
    return confirmed


class TelethonBackend:
    """One instance's Telegram account through Telethon (the port's TelegramBackend).

    The session's life is one state machine (`state`): logged_out -> connecting -> ready ->
    logging_out -> logged_out, plus revoked. Its transitions (opening a client, a login that
    replaces the session, a logout, a revocation) are serialised by one lock, and each
    deliberate change bumps `_generation`: a client opened for an older generation is never
    kept, and its end is no outage. A supervisor task opens the stored session, reports
    `ready`, `disconnected` and `revoked` through `on_update`, reconnects with backoff, and
    while no usable session exists it waits for one (`tgw login` in another process, or the
    admin API, stores it). With a fence (the instance's lease) no connection is opened while
    the lease is not held, and Telegram is asked to drop the connection should this process
    stop answering (MTProto ping_delay_disconnect; app/lease.py says why).
    """

    def __init__(
        self,
        instance: int,
        store: SessionStore,
        config: TelethonConfig | None,
        clock: Callable[[], datetime],
        *,
        ping_every_s: float = 3.0,
        disconnect_after_s: int = 10,
    ) -> None:
        self.instance = instance
        self._store = store
        self._config = config
        self._clock = clock
        self._ping_every_s = ping_every_s
        self._disconnect_after_s = disconnect_after_s
        self._writer = SessionWriter(store, instance)
        self._on_update: port.UpdateHandler | None = None
        self._fence: port.SessionFence | None = None
        self._client: Any = None
        self._session: DatabaseSession | None = None
        self._account: port.Account | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._connected = asyncio.Event()
        # An update that could not be handled: the stored update state stays before it until
        # a restart offers it again (catch-up).
        self._stuck = False
        self._state_reported: tuple[str, str | None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._generation = 0
        self._opening: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.state: str = "logged_out"
        self.status_detail: str | None = None

    # -- lifecycle --

    async def start(
        self, on_update: port.UpdateHandler, *, fence: port.SessionFence | None = None
    ) -> None:
        self._on_update = on_update
        self._fence = fence
        self._writer.fence = fence
        self._stopping = False
        snapshot = await self._load()
        if snapshot is not None and snapshot.get("account") and not snapshot.get("revoked"):
            self._account = _account_from_dict(snapshot["account"])
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"telethon-instance-{self.instance}"
        )
        if self._account is not None:
            # Give the first connection a moment, so a healthy start reports `ready` at once;
            # if Telegram is unreachable the supervisor keeps trying in the background.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._connected.wait()), FIRST_CONNECT_WAIT_S)

    async def stop(self) -> None:
        self._stopping = True
        self._generation += 1
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_client()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.flush(), CONNECT_TIMEOUT_S)

    async def me(self) -> port.Account | None:
        return self._account

    # -- logging in and out, profile --

    def new_login(self) -> TelethonLogin:
        return TelethonLogin(self.instance, self._store, self._config, fence=self._fence)

    async def resume_login(self) -> TelethonLogin | None:
        return await TelethonLogin.resume(self.instance, self._store, self._config, self._fence)

    def _interrupt(self) -> None:
        """A deliberate change begins: what was under way for the old session is abandoned."""
        self._generation += 1
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()

    async def login_completed(self) -> None:
        """A new session was stored: replace the running one (if any) with it and open it.
        Returns once it is open (reported `ready`), or once opening it failed (the supervisor
        then keeps trying)."""
        self._interrupt()
        async with self._lock:
            if self._session is not None:
                self._session.detach()  # the old client must not overwrite the new session
            await self._close_client()
            snapshot = await self._load()
            if _usable(snapshot) and not self._stopping:
                assert snapshot is not None
                try:
                    await self._open_now(snapshot)
                except Exception as exc:
                    log.warning("instance %s: the new session did not open: %r", self.instance, exc)
            self._wake.set()

    async def log_out(self) -> None:
        """End the session at Telegram and forget it, whatever it was doing (connecting,
        catching up, ready). Ends `logged_out` even when Telegram does not confirm."""
        self._interrupt()
        async with self._lock:
            self.state = "logging_out"
            client, session = self._client, self._session
            if session is not None:
                session.detach()
            self._account = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.flush(), CONNECT_TIMEOUT_S)
            confirmed: bool | None
            if client is not None and self._connected.is_set():
                confirmed = await _log_out_client(self.instance, client)
            else:
                await self._close_client()
                confirmed = await self._log_out_stored()
            await self._close_client()
            await self._store.store(self.instance, None, fence=self._fence)
            self.state = "logged_out"
            self._wake.set()
            detail = None
            if confirmed is False:
                detail = (
                    "Telegram did not confirm the logout; the session was closed and forgotten"
                    " here (if the phone still lists it under Devices, end it there)"
                )
            self._state_reported = None  # a login may have set other statuses meanwhile
            await self._report("logged_out", detail)

    async def _log_out_stored(self) -> bool | None:
        """Log the stored session out with a client of its own (ours is closed: under the
        lock nothing else can open one). None when there was nothing to log out."""
        snapshot = await self._load()
        if self._config is None or not _usable(snapshot):
            return None
        assert snapshot is not None
        client = _new_client(self._config, DatabaseSession(None, snapshot), fence=self._fence)
        try:
            await asyncio.wait_for(client.connect(), CONNECT_TIMEOUT_S)
        except Exception as exc:
            log.warning("instance %s: cannot reach Telegram to log out: %r", self.instance, exc)
            with contextlib.suppress(Exception):
                await client.disconnect()
            return False
        return await _log_out_client(self.instance, client)

    async def get_profile(self) -> port.Profile | None:
        client = self._live_client()
        try:
            full = await asyncio.wait_for(
                client(functions.users.GetFullUserRequest(types.InputUserSelf())),
                CALL_TIMEOUT_S,
            )
        except Exception as exc:
            raise to_port_error(exc) from exc
        me = next((u for u in full.users if getattr(u, "is_self", False)), None)
        me = me or (full.users[0] if full.users else None)
        return port.Profile(
            first_name=getattr(me, "first_name", None),
            last_name=getattr(me, "last_name", None),
            about=full.full_user.about,
        )

    async def set_profile(self, first_name: str, last_name: str | None, about: str | None) -> None:
        client = self._live_client()
        request = functions.account.UpdateProfileRequest(
            first_name=first_name, last_name=last_name or "", about=about or ""
        )
        try:
            await asyncio.wait_for(client(request), CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_port_error(exc) from exc

    async def set_photo(self, jpeg: bytes) -> None:
        client = self._live_client()
        try:
            await asyncio.wait_for(self._replace_photo(client, jpeg), CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_port_error(exc) from exc

    async def _replace_photo(self, client: Any, jpeg: bytes) -> None:
        uploaded = await client.upload_file(io.BytesIO(jpeg), file_name="profile.jpg")
        result = await client(functions.photos.UploadProfilePhotoRequest(file=uploaded))
        new_id = getattr(result.photo, "id", None)
        photos = await client(
            functions.photos.GetUserPhotosRequest(
                user_id=types.InputUserSelf(), offset=0, max_id=0, limit=100
            )
        )
        old = [
            types.InputPhoto(id=p.id, access_hash=p.access_hash, file_reference=p.file_reference)
            for p in photos.photos
            if isinstance(p, types.Photo) and p.id != new_id
        ]
        if old:  # the previous pictures go: the profile shows one, the company's
            await client(functions.photos.DeletePhotosRequest(id=old))

    @property
    def connected(self) -> bool:
        return self._client is not None and self._connected.is_set()

    async def _load(self) -> Snapshot | None:
        try:
            return await self._store.load(self.instance)
        except Exception:
            log.exception("instance %s: the stored Telegram session does not open", self.instance)
            return None

    async def _report(self, state: port.InstanceState, detail: str | None = None) -> None:
        self.status_detail = detail
        if self._state_reported == (state, detail):
            return
        self._state_reported = (state, detail)
        if self._on_update is not None:
            try:
                await self._on_update(port.ConnectionChanged(state, detail))
            except Exception:
                log.exception("instance %s: could not record status %s", self.instance, state)

    async def _pause(self, seconds: float) -> None:
        """Wait, but wake at once for a login or a logout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping:
            if self._config is None:
                await self._report(
                    "logged_out", "set [telegram] api_id and api_hash (my.telegram.org)"
                )
                return
            if self._fence is not None and not self._fence.valid():
                # The lease is not (or no longer) ours: never connect. The owner of this
                # backend stops it; until then, look again now and then.
                await self._close_client()
                await self._pause(1.0)
                continue
            generation = self._generation
            if self._client is None or not self._connected.is_set():
                # (A client a login is still opening is not run yet: opening it takes the lock,
                # so the supervisor waits for it there.)
                outcome = await self._open_as_supervisor(generation)
                if outcome == "no_session":
                    await self._wait_for_login()
                    continue
                if outcome == "aborted":
                    continue
                if outcome == "failed":
                    if self._generation == generation and not self._stopping:
                        await self._report("disconnected", f"reconnecting in {backoff:.0f} s")
                        await self._pause(backoff)
                        backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
            backoff = 1.0
            client = self._client
            error: Exception | None = None
            try:
                await self._run(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
            async with self._lock:
                if self._client is not client or self._generation != generation:
                    continue  # replaced or logged out on purpose: no outage
                await self._close_client()
                if isinstance(error, port.SessionRevoked):
                    await self._revoked(error)
                    continue
            if self._stopping:
                return
            log.warning("instance %s: Telegram connection lost: %r", self.instance, error)
            await self._report("disconnected", f"reconnecting in {backoff:.0f} s")
            await self._pause(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _open_as_supervisor(self, generation: int) -> str:
        """Open the stored session: "open", "no_session" (none usable: wait for a login),
        "failed" (try again later) or "aborted" (a login or logout came first)."""
        async with self._lock:
            if self._generation != generation or self._stopping:
                return "aborted"
            if self._client is not None and self._connected.is_set():
                return "open"  # a login opened the new session meanwhile
            await self._close_client()  # a client left half-open, if any
            snapshot = await self._load()
            if not _usable(snapshot):
                self._account = None
                if snapshot is not None and snapshot.get("revoked"):
                    status: port.InstanceState = "revoked"
                    if snapshot.get("revoked_status") in ("banned", "deactivated"):
                        status = snapshot["revoked_status"]
                    self.state = status
                    await self._report(status, snapshot["revoked"])
                else:
                    self.state = "logged_out"
                    if self._state_reported is None or self._state_reported[0] != "logged_out":
                        # (A logout's own report, with its detail, stands.)
                        await self._report("logged_out", None)
                return "no_session"
            assert snapshot is not None
            try:
                await self._open_now(snapshot)
            except port.SessionRevoked as exc:
                await self._revoked(exc)
                return "no_session"
            except _OpeningAborted:
                return "aborted"
            except Exception as exc:
                log.warning("instance %s: cannot connect to Telegram: %r", self.instance, exc)
                return "failed"
            return "open"

    async def _open_now(self, snapshot: Snapshot) -> None:
        """Connect with the snapshot's key and make it the running session (under the lock).
        Runs as a task of its own, so a logout can cancel it midway."""
        self._opening = asyncio.create_task(self._open(snapshot))
        try:
            await self._opening
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are cancelled ourselves (shutdown)
            raise _OpeningAborted() from None  # a logout or another login came first
        finally:
            self._opening = None

    async def _open(self, snapshot: Snapshot) -> None:
        assert self._config is not None
        session = DatabaseSession(self._writer, snapshot)
        session.guard_update_state = True
        client = _new_client(
            self._config,
            session,
            on_settled=self._settled,
            on_reconnected=self._reconnected,
            live=True,
            fence=self._fence,
        )
        client.add_event_handler(self._on_new_message, events.NewMessage(incoming=True))
        client.add_event_handler(self._on_read, events.MessageRead(inbox=False))
        self._add_login_handlers(client)
        self.state = "connecting"
        self._session, self._client, self._stuck = session, client, False
        try:
            try:
                await asyncio.wait_for(client.connect(), CONNECT_TIMEOUT_S)
                me = await asyncio.wait_for(client.get_me(), CALL_TIMEOUT_S)
            except Exception as exc:
                raise to_port_error(exc) from exc
            if me is None:
                raise port.SessionRevoked("the stored session is no longer logged in")
        except BaseException:
            session.detach()  # a half-open client stores nothing
            await self._close_client()
            raise
        self._account = _account_of(me)
        session.account = _account_dict(self._account)
        if session.stored_update_state() is None:
            # First start after a login that stored no update state: begin from now.
            self._settled()
        session.save()
        self._connected.set()
        self.state = "ready"
        self._state_reported = None  # a login may have set other statuses meanwhile
        await self._report("ready", None)
        self._spawn(self._reconcile_reads(client))

    async def _wait_for_login(self) -> None:
        """Until a session is open (a login here) or a usable one is stored (`tgw login`)."""
        while not self._stopping and self._client is None:
            await self._pause(LOGIN_POLL_S)
            if self._client is not None or _usable(await self._load()):
                return

    async def _run(self, client: Any) -> None:
        ticker = asyncio.create_task(self._watch(client))
        try:
            await client.run_until_disconnected()
        except Exception as exc:
            raise to_port_error(exc) from exc
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _reconnected(self) -> None:
        await self._report("ready", None)
        if self._client is not None:
            self._spawn(self._reconcile_reads(self._client))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile_reads(self, client: Any) -> None:
        """Read receipts given while the gateway was away: Telethon's catch-up drops them
        (they come as other_updates with a pts), so read them off the dialogs instead."""
        try:
            async for dialog in client.iter_dialogs(limit=RECONCILE_DIALOGS):
                peer = dialog.dialog.peer
                read_max = int(dialog.dialog.read_outbox_max_id or 0)
                if isinstance(peer, types.PeerUser) and read_max > 0:
                    await self._deliver(port.OutboxRead(user_id=int(peer.user_id), max_id=read_max))
        except Exception:
            log.warning("instance %s: could not read the dialogs' read marks", self.instance)

    async def _watch(self, client: Any) -> None:
        """Report a network loss that lasts, catch up now and then (a reconnect can drop updates
        silently, reference/telethon-notes.md §9), ask Telegram to drop the connection should
        this process go silent, and close the client the moment the lease is not held."""
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        last_catch_up = last_ping = loop.time()
        await self._ping_delay_disconnect(client)
        while True:
            await asyncio.sleep(min(WATCH_EVERY_S, self._ping_every_s))
            now = loop.time()
            if self._fence is not None and not self._fence.valid():
                log.warning("instance %s: the lease is not held: disconnecting", self.instance)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), CONNECT_TIMEOUT_S)
                return
            try:
                if not client._sender._transport_connected():
                    down_since = down_since if down_since is not None else now
                    if now - down_since >= REPORT_DOWN_AFTER_S:
                        await self._report("disconnected", "network lost; reconnecting")
                    continue
                down_since = None
                if now - last_ping >= self._ping_every_s:
                    last_ping = now
                    self._spawn(self._ping_delay_disconnect(client))
                if now - last_catch_up >= CATCH_UP_EVERY_S:
                    last_catch_up = now
                    await client.catch_up()
            except Exception:
                log.exception("instance %s: connection watch failed", self.instance)

    async def _ping_delay_disconnect(self, client: Any) -> None:
        request = functions.PingDelayDisconnectRequest(
            ping_id=secrets.randbits(63), disconnect_delay=self._disconnect_after_s
        )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client(request), self._disconnect_after_s)

    async def _close_client(self) -> None:
        self._connected.clear()
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), CONNECT_TIMEOUT_S)
        if self._session is not None and self._session.account and not self._session.revoked:
            self._session.save()

    async def _revoked(self, error: port.SessionRevoked) -> None:
        """The key is dead (under the lock): remember it and why (revoked, or the account
        banned or deleted), hold the queue, wait for a login."""
        detail = str(error)
        log.warning(
            "instance %s: Telegram session ended (%s): %s", self.instance, error.status, detail
        )
        self._account = None
        stored = await self._load()
        if stored is None:  # logged out on purpose (tgw logout)
            self.state = "logged_out"
            await self._report("logged_out", None)
            return
        session = self._session
        if session is not None and stored.get("auth_key") == session.snapshot().get("auth_key"):
            session.revoked = detail or "revoked"
            session.revoked_status = error.status
            session.save()
            with contextlib.suppress(Exception):
                await self._writer.flush()
        self.state = error.status
        await self._report(error.status, detail)

    def _settled(self) -> None:
        """Every update Telethon took in is handled: its update state can be written down."""
        client, session = self._client, self._session
        if client is None or session is None or self._stuck:
            return
        state, _channels = client._message_box.session_state()
        if state["pts"] == 0:  # NO_SEQ: nothing known yet
            return
        session.commit_update_state(types.updates.State(**state, unread_count=0))

    # -- updates in --

    async def _deliver(self, update: port.Update) -> None:
        """Hand one update to the pipeline; retry a few times, then leave it for catch-up."""
        assert self._on_update is not None
        delay = 0.2
        for attempt in range(1, HANDLER_TRIES + 1):
            try:
                await self._on_update(update)
                return
            except Exception:
                log.exception(
                    "instance %s: update not handled (try %s of %s)",
                    self.instance,
                    attempt,
                    HANDLER_TRIES,
                )
                if attempt < HANDLER_TRIES:
                    await asyncio.sleep(delay)
                    delay *= 4
        # Keep the stored update state before this update: the next start offers it again.
        self._stuck = True

    async def _on_new_message(self, event: Any) -> None:
        if not event.is_private:
            return
        if event.sender_id == port.SERVICE_USER_ID and await self._on_service_notice(event.message):
            return
        message = event.message
        try:
            sender = event.sender or await event.get_sender()
        except Exception:
            sender = None
        if sender is None or not isinstance(sender, types.User):
            log.warning("instance %s: message %s without a known sender", self.instance, message.id)
            return
        incoming = await self._incoming(message, sender)
        await self._deliver(incoming)

    async def _incoming(self, message: Any, sender: Any) -> port.IncomingMessage:
        contact = None
        media = None
        raw = message.media
        if isinstance(raw, types.MessageMediaContact):
            contact = port.SharedContact(
                phone=raw.phone_number or "",
                user_id=int(raw.user_id or 0),
                first_name=raw.first_name or None,
                last_name=raw.last_name or None,
            )
        elif isinstance(raw, types.MessageMediaPhoto | types.MessageMediaDocument):
            media = await self._download(message, raw)
        reply_to = None
        if message.reply_to is not None:
            reply_to = getattr(message.reply_to, "reply_to_msg_id", None)
        return port.IncomingMessage(
            message_id=int(message.id),
            date=message.date,
            sender=port.Sender(
                user_id=int(sender.id),
                access_hash=sender.access_hash,
                phone=sender.phone,
                first_name=sender.first_name,
                last_name=sender.last_name,
                username=sender.username,
                is_bot=bool(sender.bot),
            ),
            text=message.message or "",
            contact=contact,
            media=media,
            reply_to_message_id=reply_to,
        )

    async def _download(self, message: Any, raw: Any) -> port.IncomingMedia | None:
        kind, filename, mime = _media_facts(raw)
        if kind is None:
            return None
        size = message.file.size if message.file is not None else None
        if size is not None and size > MAX_DOWNLOAD_BYTES:
            log.warning("instance %s: media of %s bytes not downloaded", self.instance, size)
            return None
        data = await asyncio.wait_for(
            self._client.download_media(message, file=bytes), CALL_TIMEOUT_S
        )
        if not isinstance(data, bytes):
            return None
        return port.IncomingMedia(kind=kind, data=data, filename=filename, mime_type=mime)

    async def _on_read(self, event: Any) -> None:
        if event.outbox and isinstance(event.original_update.peer, types.PeerUser):
            user_id = event.original_update.peer.user_id
            await self._deliver(port.OutboxRead(user_id=int(user_id), max_id=int(event.max_id)))

    # -- logins from other devices, and the account's sessions --

    def _add_login_handlers(self, client: Any) -> None:
        client.add_event_handler(
            self._on_new_authorization, events.Raw(types.UpdateNewAuthorization)
        )

    async def _on_new_authorization(self, update: Any) -> None:
        await self._deliver(_login_alert(update, self._clock))

    async def _on_service_notice(self, message: Any) -> bool:
        """Telegram's "New login" notice goes to the pipeline as a LoginAlert, never as a
        message; False for any other message of 777000 (login codes), which goes on as before."""
        alert = login_alert_from_notice(message.message or "", message.date, int(message.id))
        if alert is None:
            return False
        await self._deliver(alert)
        return True

    async def list_authorizations(self) -> list[port.Authorization]:
        client = self._live_client()
        try:
            found = await asyncio.wait_for(
                client(functions.account.GetAuthorizationsRequest()), CALL_TIMEOUT_S
            )
        except Exception as exc:
            raise to_port_error(exc) from exc
        return [_authorization_of(a) for a in found.authorizations]

    async def end_authorization(self, hash: int) -> None:
        # Checked here rather than left to Telegram: ending the gateway's own session from
        # this call would leave a session stored that no longer works.
        if any(a.current and a.hash == hash for a in await self.list_authorizations()):
            raise port.CurrentAuthorization("this is the gateway's own session: log out instead")
        client = self._live_client()
        request = functions.account.ResetAuthorizationRequest(hash=hash)
        try:
            ended = await asyncio.wait_for(client(request), CALL_TIMEOUT_S)
        except errors.HashInvalidError as exc:
            raise port.AuthorizationNotFound(str(exc)) from exc
        except errors.FreshResetAuthorisationForbiddenError as exc:
            raise port.FreshResetForbidden(str(exc)) from exc
        except Exception as exc:
            raise to_port_error(exc) from exc
        if not ended:
            raise port.TransientError("Telegram answered that it did not end the session")

    # -- the account's standing: @SpamBot --

    # Class attributes, so a test may shorten them on one backend.
    spambot_wait_s = SPAMBOT_WAIT_S
    spambot_poll_s = SPAMBOT_POLL_S

    async def check_restrictions(self) -> port.SpamCheck:
        """Send @SpamBot "/start" and read its reply. The reply is looked for in the chat's
        history (messages.getHistory), not taken from the update handlers: those hand every
        incoming message to the pipeline, which never answers or forwards a bot's."""
        client = self._live_client()
        try:
            reply = await asyncio.wait_for(
                self._ask_spambot(client), self.spambot_wait_s + CALL_TIMEOUT_S
            )
        except Exception as exc:
            raise to_port_error(exc) from exc
        return classify(reply)

    async def _ask_spambot(self, client: Any) -> str:
        resolved = await client(functions.contacts.ResolveUsernameRequest(SPAMBOT_USERNAME))
        bot_id = getattr(resolved.peer, "user_id", None)
        bot = next(
            (u for u in resolved.users if isinstance(u, types.User) and u.id == bot_id), None
        )
        if bot is None:
            raise port.TransientError(f"Telegram did not resolve @{SPAMBOT_USERNAME} to a user")
        peer = types.InputPeerUser(user_id=bot.id, access_hash=bot.access_hash or 0)
        random_id = secrets.randbits(63)
        request = functions.messages.SendMessageRequest(
            peer=peer, message=START_COMMAND, random_id=random_id, no_webpage=True
        )
        sent = _sent_message(await client(request), random_id, self._clock)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spambot_wait_s
        while True:
            history = await client(
                functions.messages.GetHistoryRequest(
                    peer=peer,
                    offset_id=0,
                    offset_date=None,
                    add_offset=0,
                    limit=SPAMBOT_HISTORY,
                    max_id=0,
                    min_id=sent.message_id,
                    hash=0,
                )
            )
            replies = sorted(
                (
                    m
                    for m in history.messages
                    if isinstance(m, types.Message)
                    and not m.out
                    and m.id > sent.message_id
                    and m.message
                ),
                key=lambda m: m.id,
            )
            if replies:
                return "\n\n".join(m.message for m in replies)
            if loop.time() >= deadline:
                raise port.SpamBotSilent(
                    f"@{SPAMBOT_USERNAME} did not answer {START_COMMAND} within"
                    f" {self.spambot_wait_s:g} s: try again later"
                )
            await asyncio.sleep(self.spambot_poll_s)

    # -- sending --

    def _live_client(self) -> Any:
        if self._client is None or not self._connected.is_set():
            if self._account is None:
                raise port.NotLoggedIn(f"instance {self.instance} is not logged in")
            raise port.TransientError("not connected to Telegram (reconnecting)")
        return self._client

    async def send(self, message: port.OutgoingMessage) -> port.SentMessage:
        client = self._live_client()
        try:
            return await asyncio.wait_for(self._send(client, message), CALL_TIMEOUT_S)
        except Exception as exc:
            error = to_port_error(exc)
            if isinstance(error, port.SessionRevoked):
                async with self._lock:  # a transition: one at a time with the others
                    if self._client is client:
                        await self._revoked(error)
                        # The supervisor finds the key marked revoked and waits for a login.
                        await self._close_client()
            raise error from exc

    async def _send(self, client: Any, message: port.OutgoingMessage) -> port.SentMessage:
        peer = _input_peer(message.peer)
        reply_to = (
            types.InputReplyToMessage(reply_to_msg_id=message.reply_to_message_id)
            if message.reply_to_message_id
            else None
        )
        request: Any
        if message.media is None:
            request = functions.messages.SendMessageRequest(
                peer=peer,
                message=message.text or "",
                random_id=message.random_id,
                reply_to=reply_to,
                no_webpage=False,
            )
        else:
            media = await self._upload(client, message.media)
            request = functions.messages.SendMediaRequest(
                peer=peer,
                media=media,
                message=message.caption or "",
                random_id=message.random_id,
                reply_to=reply_to,
            )
        result = await client(request)
        return _sent_message(result, message.random_id, self._clock)

    async def _upload(self, client: Any, media: port.OutgoingMedia) -> Any:
        uploaded = await client.upload_file(io.BytesIO(media.data), file_name=media.filename)
        if media.kind == "image" and media.mime_type in ("image/jpeg", "image/png"):
            return types.InputMediaUploadedPhoto(file=uploaded)
        attributes: list[Any] = [types.DocumentAttributeFilename(file_name=media.filename)]
        if media.kind in ("audio", "voice_note"):
            attributes.insert(
                0, types.DocumentAttributeAudio(duration=0, voice=media.kind == "voice_note")
            )
        return types.InputMediaUploadedDocument(
            file=uploaded,
            mime_type=media.mime_type,
            attributes=attributes,
            force_file=media.kind == "document",
        )

    async def resolve_group(self, group_name: str, admin_number: str) -> port.GroupPeer:
        client = self._live_client()
        try:
            return await asyncio.wait_for(
                self._resolve_group(client, group_name, admin_number), CALL_TIMEOUT_S
            )
        except port.TelegramError:
            raise
        except Exception as exc:
            raise to_port_error(exc) from exc

    async def _resolve_group(
        self, client: Any, group_name: str, admin_number: str
    ) -> port.GroupPeer:
        wanted = group_name.strip().casefold()
        # The account's chats are its dialogs (Telegram has no "all my groups" call any more).
        chats = [dialog.entity async for dialog in client.iter_dialogs(limit=None)]
        matches = [
            chat
            for chat in chats
            if isinstance(chat, types.Chat | types.Channel)
            and (chat.title or "").strip().casefold() == wanted
            and not getattr(chat, "left", False)
            and not getattr(chat, "deactivated", False)
            and (not isinstance(chat, types.Channel) or chat.megagroup)
        ]
        if not admin_number:  # a legacy v1 send names no creator: the title must be unique
            if len(matches) == 1:
                return _group_peer(matches[0])
            raise port.GroupNotFound(
                f"the account is in {len(matches) or 'no'} group(s) named {group_name!r}"
                + (": give group_admin" if matches else "")
            )
        admin_digits = "".join(ch for ch in admin_number if ch.isdigit())
        unknown: list[port.GroupPeer] = []
        for chat in matches:
            peer = _group_peer(chat)
            creator_phone = await self._creator_phone(client, chat)
            if creator_phone == admin_digits:
                return peer
            if creator_phone is None:
                unknown.append(peer)
        if len(unknown) == 1:
            return unknown[0]  # the creator's number is hidden; the title alone is unique
        raise port.GroupNotFound(
            f"the account is not in a group named {group_name!r} created by {admin_number}"
        )

    async def _creator_phone(self, client: Any, chat: Any) -> str | None:
        """The digits of the group creator's number; None when Telegram does not show it."""
        if isinstance(chat, types.Channel):
            if chat.creator and self._account is not None:
                return self._account.phone
            return None
        full = await client(functions.messages.GetFullChatRequest(chat_id=chat.id))
        participants = getattr(full.full_chat, "participants", None)
        creator_id = None
        for member in getattr(participants, "participants", None) or []:
            if isinstance(member, types.ChatParticipantCreator):
                creator_id = member.user_id
        for user in full.users:
            if user.id == creator_id and user.phone:
                return str(user.phone)
        return None


def _login_alert(update: Any, clock: Callable[[], datetime]) -> port.LoginAlert:
    """updateNewAuthorization as a port alert.

    Since layer 163 (Telethon 1.39 speaks 199, 1.45 229: the same fields) it is `hash` and, while
    the new session awaits confirmation (`unconfirmed`), its `date`, `device` and `location`;
    without `unconfirmed` it only tells that session `hash` was confirmed. Older layers named
    the hash `auth_key_id` and always carried the details.
    """
    raw_hash = getattr(update, "hash", None)
    if raw_hash is None:
        raw_hash = getattr(update, "auth_key_id", None)
    unconfirmed = bool(getattr(update, "unconfirmed", True))
    return port.LoginAlert(
        source="update",
        date=getattr(update, "date", None) or clock(),
        hash=int(raw_hash) if raw_hash is not None else None,
        device=getattr(update, "device", None) or None,
        location=getattr(update, "location", None) or None,
        unconfirmed=unconfirmed,
    )


def _authorization_of(raw: Any) -> port.Authorization:
    return port.Authorization(
        hash=int(raw.hash),
        current=bool(raw.current),
        device_model=raw.device_model or "",
        platform=raw.platform or "",
        system_version=raw.system_version or "",
        app_name=raw.app_name or "",
        app_version=raw.app_version or "",
        ip=raw.ip or "",
        country=raw.country or "",
        region=raw.region or "",
        date_created=raw.date_created,
        date_active=raw.date_active,
        official_app=bool(raw.official_app),
        password_pending=bool(raw.password_pending),
    )


def _group_peer(chat: Any) -> port.GroupPeer:
    if isinstance(chat, types.Channel):
        return port.GroupPeer(chat.id, chat.access_hash, is_channel=True)
    return port.GroupPeer(chat.id)


def _input_peer(peer: port.Peer) -> Any:
    if isinstance(peer, port.UserPeer):
        return types.InputPeerUser(user_id=peer.user_id, access_hash=peer.access_hash or 0)
    if peer.is_channel:
        return types.InputPeerChannel(channel_id=peer.chat_id, access_hash=peer.access_hash or 0)
    return types.InputPeerChat(chat_id=peer.chat_id)


def _sent_message(result: Any, random_id: int, clock: Callable[[], datetime]) -> port.SentMessage:
    """The Telegram id of what was just sent (UpdateShortSentMessage or the paired updates)."""
    if isinstance(result, types.UpdateShortSentMessage):
        return port.SentMessage(int(result.id), result.date or clock())
    updates = list(getattr(result, "updates", None) or [])
    message_id = next(
        (
            u.id
            for u in updates
            if isinstance(u, types.UpdateMessageID) and u.random_id == random_id
        ),
        None,
    )
    date = getattr(result, "date", None)
    for update in updates:
        if not isinstance(update, types.UpdateNewMessage | types.UpdateNewChannelMessage):
            continue
        sent = update.message
        if (message_id is None and getattr(sent, "out", False)) or sent.id == message_id:
            message_id, date = sent.id, sent.date
            break
    if message_id is None:
        raise port.TransientError(f"Telegram did not say which message it created: {result!r}")
    return port.SentMessage(int(message_id), date or clock())


def _media_facts(raw: Any) -> tuple[port.MediaKind | None, str | None, str | None]:
    """(kind, file name, MIME type) of a photo or document a person sent."""
    if isinstance(raw, types.MessageMediaPhoto):
        return ("image", "photo.jpg", "image/jpeg") if raw.photo else (None, None, None)
    document = raw.document
    if not isinstance(document, types.Document):
        return None, None, None
    filename = None
    kind: port.MediaKind = "document"
    for attribute in document.attributes:
        if isinstance(attribute, types.DocumentAttributeFilename):
            filename = attribute.file_name
        elif isinstance(attribute, types.DocumentAttributeAudio):
            kind = "voice_note" if attribute.voice else "audio"
    if kind == "document" and (document.mime_type or "").startswith("image/") and filename is None:
        kind = "image"
    return kind, filename, document.mime_type


# --- logging in ---


class _LoginSession(DatabaseSession):
    """A session under construction. Until an account is logged in with it, it is kept apart
    (the pending row, -instance) so an abandoned login never overwrites what the instance had,
    and a login can be resumed by another process: the code is bound to this auth key."""

    def __init__(
        self, writer: SessionWriter, pending: SessionWriter, snapshot: Snapshot | None = None
    ) -> None:
        super().__init__(writer, snapshot)
        self._pending = pending
        self.login: dict[str, Any] = dict(snapshot.get("login") or {}) if snapshot else {}

    def snapshot(self) -> Snapshot:
        data = super().snapshot()
        if self.account is None:
            data["login"] = self.login
        return data

    def save(self) -> None:
        if self.account is not None:
            super().save()
        elif self._auth_key is not None:
            self._pending.submit(self.snapshot())

    def close(self) -> None:
        self.save()


def _login_error(exc: BaseException) -> port.LoginError:
    if isinstance(exc, port.LoginError):
        return exc
    if isinstance(exc, errors.FloodWaitError | errors.PhoneNumberFloodError):
        seconds = int(getattr(exc, "seconds", 0) or 0) or None
        wait = f" for {seconds} s" if seconds else ""
        return port.LoginError(
            "flood_wait",
            f"Telegram asks to wait{wait} before trying again (too many login attempts)",
            seconds=seconds,
        )
    if isinstance(exc, errors.PhonePasswordFloodError):
        return port.LoginError("flood_wait", "too many password attempts; wait and try later")
    if isinstance(exc, errors.PhoneNumberInvalidError):
        return port.LoginError("phone_invalid", "Telegram does not accept this phone number")
    if isinstance(exc, errors.PhoneNumberBannedError):
        return port.LoginError("phone_banned", "this phone number is banned from Telegram")
    if isinstance(exc, errors.PhoneNumberUnoccupiedError):
        return port.LoginError(
            "phone_unregistered",
            "no Telegram account uses this number: sign up in the Telegram app first",
        )
    if isinstance(exc, errors.PhoneCodeInvalidError | errors.PhoneCodeEmptyError):
        return port.LoginError("code_invalid", "the code is wrong; check it and try again")
    if isinstance(exc, errors.PhoneCodeExpiredError):
        return port.LoginError(
            "code_expired",
            "the code expired (or was shared through Telegram): request a new one",
        )
    if isinstance(exc, errors.PasswordHashInvalidError):
        return port.LoginError("password_invalid", "the 2FA password is wrong")
    if isinstance(exc, OSError | TimeoutError | ConnectionError):
        return port.LoginError("unreachable", f"cannot reach Telegram: {exc!r}")
    return port.LoginError("login_failed", f"Telegram refused the login: {exc}")


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
            dest_host=session.server_address, dest_port=session.port, timeout=PROXY_PROBE_S
        )
    except Exception as exc:  # python-socks' errors (Telethon swaps some of their classes)
        return str(exc) or repr(exc)
    sock.close()
    return None


class TelethonLogin:
    """One login attempt. Its steps share one connected client, hence one auth key: a code is
    bound to the key that asked for it (reference/telethon-notes.md §2.3)."""

    def __init__(
        self,
        instance: int,
        store: SessionStore,
        config: TelethonConfig | None,
        pending: Snapshot | None = None,
        *,
        fence: port.SessionFence | None = None,
    ) -> None:
        self.instance = instance
        self._config = config
        self._fence = fence
        self._writer = SessionWriter(store, instance, fence=fence)
        self._pending = SessionWriter(store, -instance, fence=fence)
        self._session = _LoginSession(self._writer, self._pending, pending)
        self._client: Any = None
        self._phone: str | None = self._session.login.get("phone")
        self._code_hash: str | None = self._session.login.get("code_hash")
        self._qr: Any = None
        self.account: port.Account | None = None

    @classmethod
    async def resume(
        cls,
        instance: int,
        store: SessionStore,
        config: TelethonConfig | None,
        fence: port.SessionFence | None = None,
    ) -> TelethonLogin | None:
        """The login another process (or an earlier run) left waiting for its code."""
        pending = await store.load(-instance)
        if pending is None or not pending.get("login", {}).get("code_hash"):
            return None
        return cls(instance, store, config, pending, fence=fence)

    async def _connected(self) -> Any:
        if self._config is None:
            raise port.LoginError(
                "not_configured", "set [telegram] api_id and api_hash first (my.telegram.org)"
            )
        if self._client is None:
            self._client = _new_client(self._config, self._session, fence=self._fence)
            try:
                await asyncio.wait_for(self._client.connect(), CONNECT_TIMEOUT_S)
            except Exception as exc:
                self._client = None
                proxy = self._config.proxy
                refusal = await _proxy_refusal(proxy, self._session)
                if refusal is not None:
                    raise port.LoginError(
                        "unreachable", f"the proxy {proxy} refused to reach Telegram: {refusal}"
                    ) from exc
                raise _login_error(exc) from exc
        return self._client

    async def request_code(self, phone: str) -> port.LoginStep:
        digits = "".join(ch for ch in phone if ch.isdigit())
        if not 7 <= len(digits) <= 15:
            raise port.LoginError("phone_invalid", f"{phone!r} is not a phone number")
        client = await self._connected()
        try:
            sent = await asyncio.wait_for(client.send_code_request(digits), CALL_TIMEOUT_S)
        except Exception as exc:
            raise _login_error(exc) from exc
        self._phone = digits
        self._code_hash = sent.phone_code_hash
        # Kept with the auth key that asked for the code: the next step may come later.
        self._session.login = {"phone": digits, "code_hash": sent.phone_code_hash}
        self._session.save()
        await self._pending.flush()
        return port.LoginStep("code_sent")

    async def submit_code(self, code: str) -> port.LoginStep:
        if self._phone is None or self._code_hash is None:
            raise port.LoginError("code_expired", "no code was requested: start with the phone")
        client = await self._connected()
        try:
            user = await asyncio.wait_for(
                client.sign_in(
                    phone=self._phone, code=code.strip(), phone_code_hash=self._code_hash
                ),
                CALL_TIMEOUT_S,
            )
        except errors.SessionPasswordNeededError:
            return port.LoginStep("password_needed", password_hint=await self._hint(client))
        except Exception as exc:
            raise _login_error(exc) from exc
        return await self._logged_in(user)

    async def submit_password(self, password: str) -> port.LoginStep:
        client = await self._connected()
        try:
            # Telethon computes the SRP check locally: the password never leaves this process.
            user = await asyncio.wait_for(client.sign_in(password=password), CALL_TIMEOUT_S)
        except Exception as exc:
            raise _login_error(exc) from exc
        return await self._logged_in(user)

    async def _hint(self, client: Any) -> str | None:
        with contextlib.suppress(Exception):
            info = await client(functions.account.GetPasswordRequest())
            return str(info.hint) if info.hint else None
        return None

    async def start_qr(self) -> port.LoginStep:
        client = await self._connected()
        try:
            self._qr = await asyncio.wait_for(client.qr_login(), CALL_TIMEOUT_S)
        except Exception as exc:
            raise _login_error(exc) from exc
        return self._qr_step()

    def _qr_step(self) -> port.LoginStep:
        return port.LoginStep("awaiting_qr", qr_url=self._qr.url, expires_at=self._qr.expires)

    async def wait_qr(self, timeout_s: float) -> port.LoginStep:
        """Wait for the scan; on expiry a fresh token is made (the step carries its URL)."""
        if self._qr is None:
            return await self.start_qr()
        client = await self._connected()
        try:
            user = await self._qr.wait(timeout=timeout_s)
        except TimeoutError:
            try:
                await asyncio.wait_for(self._qr.recreate(), CALL_TIMEOUT_S)
            except Exception as exc:
                raise _login_error(exc) from exc
            fresh = getattr(self._qr, "_resp", None)  # what Telegram answered the renewal
            if isinstance(fresh, types.auth.LoginTokenSuccess):
                # The phone scanned just as the token was renewed: the answer is the login
                # itself, not a new token (Telethon's QRLogin would fail reading its .token).
                return await self._logged_in(fresh.authorization.user)
            return self._qr_step()
        except errors.SessionPasswordNeededError:
            return port.LoginStep("password_needed", password_hint=await self._hint(client))
        except Exception as exc:
            raise _login_error(exc) from exc
        return await self._logged_in(user)

    async def _logged_in(self, user: Any) -> port.LoginStep:
        if not isinstance(user, types.User):
            raise port.LoginError("login_failed", f"unexpected answer from Telegram: {user!r}")
        self.account = _account_of(user)
        self._session.account = _account_dict(self.account)
        self._session.revoked = None
        # Disconnecting stores the update state Telethon fetched at login: the gateway then
        # catches up on everything said to the number from this moment on.
        await self.close()
        return port.LoginStep("ready", account=self.account)

    async def suspend(self) -> None:
        """Disconnect but keep a pending login for later (a restart of the gateway)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), CONNECT_TIMEOUT_S)
        self._session.save()
        await self._writer.flush()
        await self._pending.flush()

    async def close(self) -> None:
        """End the attempt; a pending (unfinished) login is forgotten."""
        await self.suspend()
        self._pending.submit(None)
        await self._pending.flush()


async def log_out(instance: int, store: SessionStore, config: TelethonConfig | None) -> bool:
    """End the stored session at Telegram and forget it. False when there was none."""
    snapshot = await store.load(instance)
    if snapshot is None:
        return False
    writer = SessionWriter(store, instance)
    if config is not None and snapshot.get("auth_key") and not snapshot.get("revoked"):
        client = _new_client(config, DatabaseSession(None, snapshot))
        try:
            await asyncio.wait_for(client.connect(), CONNECT_TIMEOUT_S)
        except Exception as exc:  # unreachable: forget it here all the same
            log.warning("instance %s: cannot reach Telegram to log out: %r", instance, exc)
            with contextlib.suppress(Exception):
                await client.disconnect()
        else:
            await _log_out_client(instance, client)
    writer.submit(None)
    await writer.flush()
    return True
