"""What every part of TelethonBackend shares: the instance's state, and the few steps that
the state machine (backend.py), sending, updates and account calls all take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from app.telegram import port
from app.telegram.session_store import SessionStore, SessionWriter, Snapshot
from app.telegram.telethon import limits
from app.telegram.telethon.client import TelethonConfig
from app.telegram.telethon.session import DatabaseSession

log = logging.getLogger(__name__)


class BackendCore:
    """The state of one instance's Telethon backend (see TelethonBackend)."""

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

    def _live_client(self) -> Any:
        if self._client is None or not self._connected.is_set():
            if self._account is None:
                raise port.NotLoggedIn(f"instance {self.instance} is not logged in")
            raise port.TransientError("not connected to Telegram (reconnecting)")
        return self._client

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
                await self._on_update([port.ConnectionChanged(state, detail)])
            except Exception:
                log.exception("instance %s: could not record status %s", self.instance, state)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_client(self) -> None:
        self._connected.clear()
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), limits.CONNECT_TIMEOUT_S)
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
