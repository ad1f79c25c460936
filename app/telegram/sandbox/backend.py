"""SandboxTelegram: one sandbox instance, the port's backend plus the simulation's controls,
made of the parts in this package."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from datetime import datetime

from app.db import Database, OutageLog
from app.queueing import Wakeup
from app.telegram.port import SessionFence, UpdateHandler
from app.telegram.sandbox.actions import ActionsMixin
from app.telegram.sandbox.changes import ChangesMixin
from app.telegram.sandbox.history import HistoryMixin
from app.telegram.sandbox.inbound import InboundMixin, _Inbound
from app.telegram.sandbox.login import LoginMixin, SandboxLogin
from app.telegram.sandbox.profile import ProfileMixin
from app.telegram.sandbox.pump import PumpMixin
from app.telegram.sandbox.reach import ReachMixin
from app.telegram.sandbox.sending import SendingMixin
from app.telegram.sandbox.spambot import SpamBotMixin
from app.telegram.sandbox.state import log


class SandboxTelegram(
    ProfileMixin,
    LoginMixin,
    SpamBotMixin,
    SendingMixin,
    ActionsMixin,
    ReachMixin,
    PumpMixin,
    InboundMixin,
    ChangesMixin,
    HistoryMixin,
):
    """One sandbox instance: the port's backend plus the simulation's controls."""

    def __init__(
        self,
        instance: int,
        database: Database,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        poll_interval_s: float = 1.0,
        password: str | None = None,
    ) -> None:
        self.instance = instance
        # The 2FA password the simulated login asks for ([[instances]] sandbox_password).
        self.password = password
        self._on_update: UpdateHandler | None = None
        self._waiting_qr: SandboxLogin | None = None
        self.photo_sha256: str | None = None
        # The simulated Telegram stands for a remote system: its writes need not wait for the
        # disk (relaxed on SQLite), and go behind the API's.
        self._factory = database.background_factory
        self._sql = database.background_sql
        self._wakeup = wakeup
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._pump: asyncio.Task[None] | None = None
        self._fence: SessionFence | None = None
        self._failures: dict[int, int] = {}
        self._outage = OutageLog(log, f"sandbox {instance}")
        # How far the gateway got in the update stream: in memory as each update is handled,
        # in the database (`_saved_update_id`) with the next batch's read.
        self.consumed_update_id = 0
        self._saved_update_id = 0
        # wait_consumed's callers, by the update id they wait for (a heap).
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiting_order = itertools.count()
        # inbound() requests waiting for the next batch, and the task that writes them.
        self._inbox: list[_Inbound] = []
        self._inbox_writer: asyncio.Task[None] | None = None

    # --- the port ---

    async def start(self, on_update: UpdateHandler, *, fence: SessionFence | None = None) -> None:
        await self.ensure_account()
        self._fence = fence
        self._on_update = on_update
        self._pump = asyncio.create_task(self._pump_updates(on_update), name=self._topic)

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
            await self._save_position()  # fewer replays at the next start
