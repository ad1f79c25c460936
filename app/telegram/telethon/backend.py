"""TelethonBackend: one logged-in account, as the port's TelegramBackend. This module holds its
state machine (opening the stored session, the supervisor that reconnects, the watch on the
connection, logins and logouts replacing the session); sending, updates in and the account's
own calls are parts of the class kept in modules of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from telethon import functions
from telethon.tl import types

from app.telegram import port
from app.telegram.session_store import Snapshot
from app.telegram.telethon import limits
from app.telegram.telethon.account import AccountMixin
from app.telegram.telethon.actions import ActionsMixin
from app.telegram.telethon.client import _new_client
from app.telegram.telethon.errors import to_port_error
from app.telegram.telethon.history import HistoryMixin
from app.telegram.telethon.login import TelethonLogin, _log_out_client
from app.telegram.telethon.reach import ReachMixin
from app.telegram.telethon.sending import SendingMixin
from app.telegram.telethon.session import (
    DatabaseSession,
    _account_dict,
    _account_from_dict,
    _account_of,
    _usable,
)
from app.telegram.telethon.updates import UpdatesMixin

log = logging.getLogger(__name__)


class _OpeningAborted(Exception):
    """Opening a session was cancelled by a deliberate change (a logout, another login)."""


class TelethonBackend(
    SendingMixin, ActionsMixin, HistoryMixin, ReachMixin, UpdatesMixin, AccountMixin
):
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
                await asyncio.wait_for(
                    asyncio.shield(self._connected.wait()), limits.FIRST_CONNECT_WAIT_S
                )

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
            await asyncio.wait_for(self._writer.flush(), limits.CONNECT_TIMEOUT_S)

    async def me(self) -> port.Account | None:
        return self._account

    # -- logging in and out --

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
                await asyncio.wait_for(self._writer.flush(), limits.CONNECT_TIMEOUT_S)
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
            await asyncio.wait_for(client.connect(), limits.CONNECT_TIMEOUT_S)
        except Exception as exc:
            log.warning("instance %s: cannot reach Telegram to log out: %r", self.instance, exc)
            with contextlib.suppress(Exception):
                await client.disconnect()
            return False
        return await _log_out_client(self.instance, client)

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
                        backoff = min(backoff * 2, limits.MAX_BACKOFF_S)
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
            backoff = min(backoff * 2, limits.MAX_BACKOFF_S)

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
        self._add_update_handlers(client)
        self.state = "connecting"
        self._session, self._client, self._stuck = session, client, False
        try:
            try:
                await asyncio.wait_for(client.connect(), limits.CONNECT_TIMEOUT_S)
                me = await asyncio.wait_for(client.get_me(), limits.CALL_TIMEOUT_S)
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
            await self._pause(limits.LOGIN_POLL_S)
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

    async def _watch(self, client: Any) -> None:
        """Report a network loss that lasts, catch up now and then (a reconnect can drop updates
        silently), ask Telegram to drop the connection should
        this process go silent, and close the client the moment the lease is not held."""
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        last_catch_up = last_ping = loop.time()
        await self._ping_delay_disconnect(client)
        while True:
            await asyncio.sleep(min(limits.WATCH_EVERY_S, self._ping_every_s))
            now = loop.time()
            if self._fence is not None and not self._fence.valid():
                log.warning("instance %s: the lease is not held: disconnecting", self.instance)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), limits.CONNECT_TIMEOUT_S)
                return
            try:
                if not client._sender._transport_connected():
                    down_since = down_since if down_since is not None else now
                    if now - down_since >= limits.REPORT_DOWN_AFTER_S:
                        await self._report("disconnected", "network lost; reconnecting")
                    continue
                down_since = None
                if now - last_ping >= self._ping_every_s:
                    last_ping = now
                    self._spawn(self._ping_delay_disconnect(client))
                if now - last_catch_up >= limits.CATCH_UP_EVERY_S:
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

    def _settled(self) -> None:
        """Every update Telethon took in is handled: its update state can be written down."""
        client, session = self._client, self._session
        if client is None or session is None or self._stuck:
            return
        state, _channels = client._message_box.session_state()
        if state["pts"] == 0:  # NO_SEQ: nothing known yet
            return
        session.commit_update_state(types.updates.State(**state, unread_count=0))
