"""Bringing a number into service over the admin API: the login steps, logout.

A login spreads over several HTTP calls. Its flow (one auth key: a code is bound to the key
that asked for it) stays in this process between them; the Telethon flow also keeps its pending
state in the database, so a code can still be entered after a restart. A login left alone
times out, and every step is an `instance.status` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import segno

from app.db import Database
from app.errors import ApiError
from app.instances import set_instance_status
from app.models import Instance
from app.telegram.port import LoginError, LoginFlow, LoginStep, TelegramBackend
from app.timestamps import iso_or_none

log = logging.getLogger(__name__)

LOGIN_TIMEOUT_S = 600.0
# The status an instance shows while a login waits for the admin.
STATUS_OF_STEP = {
    "code_sent": "awaiting_code",
    "password_needed": "awaiting_password",
    "awaiting_qr": "awaiting_qr",
}


@dataclass
class PendingLogin:
    flow: LoginFlow
    step: str
    method: str  # code | qr
    qr_url: str | None = None
    qr_expires_at: datetime | None = None
    password_hint: str | None = None
    error: dict[str, Any] | None = None
    qr_task: asyncio.Task[None] | None = None
    timer: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def login_api_error(exc: LoginError) -> ApiError:
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if exc.seconds is not None:
        extra["seconds"] = exc.seconds
        headers["Retry-After"] = str(exc.seconds)
    return ApiError(exc.code, str(exc), headers=headers, extra=extra)


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=3)
    return buffer.getvalue()


class Onboarding:
    def __init__(
        self,
        backends: Mapping[int, TelegramBackend],
        database: Database,
        clock: Callable[[], datetime],
        *,
        login_timeout_s: float = LOGIN_TIMEOUT_S,
    ) -> None:
        self._backends = backends
        self._db = database
        self._clock = clock
        self.login_timeout_s = login_timeout_s
        self._pending: dict[int, PendingLogin] = {}
        self._last_error: dict[int, dict[str, Any]] = {}
        # The outcome of the last login that completed here, until the next one or a logout.
        self._completed: dict[int, dict[str, Any]] = {}
        # Longest wait for a scan before the token is checked (tokens live about 30 s).
        self.qr_round_s = 30.0

    def _backend(self, number: int) -> TelegramBackend:
        backend = self._backends.get(number)
        if backend is None:
            raise ApiError(
                "not_configured",
                f"instance {number} has no Telegram backend (set [telegram] api_id/api_hash"
                " for a telethon instance)",
            )
        return backend

    async def _status(self, number: int, status: str, detail: str | None = None) -> None:
        async with self._db.write() as session:
            inst = await session.get(Instance, number)
            if inst is not None:
                await set_instance_status(session, inst, status, detail, self._clock())

    async def _ready(self, number: int, step: LoginStep) -> None:
        async with self._db.write() as session:
            inst = await session.get(Instance, number)
            if inst is None:
                return
            if step.account is not None:
                inst.phone = step.account.phone
                inst.user_id = step.account.user_id
            inst.paused_until = None
            await set_instance_status(session, inst, "ready", None, self._clock())

    # -- state --

    def state(self, number: int) -> dict[str, Any]:
        pending = self._pending.get(number)
        if pending is None:
            if number in self._completed:
                return dict(self._completed[number])
            body: dict[str, Any] = {"step": "idle"}
            if number in self._last_error:
                body["error"] = self._last_error[number]
            return body
        body = {"step": pending.step, "method": pending.method}
        if pending.step == "awaiting_qr":
            body["url"] = pending.qr_url
            expires = pending.qr_expires_at
            body["expires_at"] = iso_or_none(expires)
        if pending.password_hint:
            body["password_hint"] = pending.password_hint
        if pending.error:
            body["error"] = pending.error
        return body

    def qr_url(self, number: int) -> str | None:
        pending = self._pending.get(number)
        if pending is None or pending.step != "awaiting_qr":
            return None
        return pending.qr_url

    # -- steps --

    async def _begin(self, number: int, method: str) -> PendingLogin:
        backend = self._backend(number)
        if await backend.me() is not None:
            raise ApiError(
                "already_logged_in",
                f"instance {number} is logged in; log it out first (POST .../logout)",
            )
        await self._end(number)
        pending = PendingLogin(flow=backend.new_login(), step="starting", method=method)
        self._pending[number] = pending
        self._last_error.pop(number, None)
        self._completed.pop(number, None)
        self._arm_timer(number, pending)
        return pending

    def _arm_timer(self, number: int, pending: PendingLogin) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        pending.timer = asyncio.create_task(self._expire_later(number, pending))

    async def _expire_later(self, number: int, pending: PendingLogin) -> None:
        await asyncio.sleep(self.login_timeout_s)
        # A step in progress (a code being requested, a password being checked) ends first:
        # closing the flow under it would cancel the call the admin's request is waiting on.
        # The step re-arms the timer when it ends (cancelling this task while it waits here).
        async with pending.lock:
            if self._pending.get(number) is not pending:
                return
            log.info("instance %s: login timed out", number)
            await self._end(number, timer_done=True)
            self._last_error[number] = {
                "code": "login_timeout",
                "message": f"the login was left unfinished for {self.login_timeout_s:.0f} s",
            }
            await self._status(number, "logged_out", "login timed out")

    async def _end(self, number: int, *, timer_done: bool = False) -> None:
        pending = self._pending.pop(number, None)
        if pending is None:
            return
        for task in (pending.qr_task, None if timer_done else pending.timer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        with contextlib.suppress(Exception):
            await pending.flow.close()

    async def _apply(self, number: int, pending: PendingLogin, step: LoginStep) -> dict[str, Any]:
        pending.error = None
        pending.step = step.step
        pending.password_hint = step.password_hint
        if step.step == "awaiting_qr":
            pending.qr_url = step.qr_url
            pending.qr_expires_at = step.expires_at
        if step.step == "ready":
            self._pending.pop(number, None)
            if pending.timer is not None:
                pending.timer.cancel()
            # The backend opens the new session first: `ready` is only reported once it is
            # open and usable (a profile change right after it works).
            body: dict[str, Any] = {"step": "ready", "method": pending.method}
            if step.account is not None:
                body["user_id"] = step.account.user_id
                body["phone"] = step.account.phone
            # GET .../login tells the outcome from now on (the session opens meanwhile).
            self._completed[number] = body
            backend = self._backend(number)
            await backend.login_completed()
            if await backend.me() is None:
                # A logout came while the new session was opening: it wins; `ready` is not
                # written over the `logged_out` it reported.
                if self._completed.get(number) is body:
                    del self._completed[number]
                return body
            await self._ready(number, step)
            return body
        self._arm_timer(number, pending)
        await self._status(number, STATUS_OF_STEP[step.step])
        return self.state(number)

    async def _run(
        self, number: int, pending: PendingLogin, work: Callable[[], Any]
    ) -> dict[str, Any]:
        async with pending.lock:
            try:
                step = await work()
            except LoginError as exc:
                pending.error = {"code": exc.code, "message": str(exc)}
                if exc.code in ("code_expired", "phone_invalid", "flood_wait", "unreachable"):
                    # The attempt cannot go on: start again from the phone.
                    await self._end(number)
                    self._last_error[number] = pending.error
                    await self._status(number, "logged_out", f"login failed: {exc.code}")
                raise login_api_error(exc) from exc
            return await self._apply(number, pending, step)

    async def start_code(self, number: int, phone: str) -> dict[str, Any]:
        pending = await self._begin(number, "code")
        return await self._run(number, pending, lambda: pending.flow.request_code(phone))

    async def _current(self, number: int, expected: tuple[str, ...]) -> PendingLogin:
        pending = self._pending.get(number)
        if pending is None:
            pending = await self._resume(number)
        if pending is None or pending.step not in expected:
            where = pending.step if pending else "no login under way"
            raise ApiError(
                "no_login",
                f"instance {number}: this step is not expected now ({where});"
                " start with POST /admin/instances/{n}/login",
            )
        return pending

    async def _resume(self, number: int) -> PendingLogin | None:
        """A code requested before a restart: the Telethon flow kept its pending state."""
        backend = self._backends.get(number)
        resume = getattr(backend, "resume_login", None)
        if resume is None:
            return None
        flow = await resume()
        if flow is None:
            return None
        pending = PendingLogin(flow=flow, step="code_sent", method="code")
        self._pending[number] = pending
        self._arm_timer(number, pending)
        return pending

    async def submit_code(self, number: int, code: str) -> dict[str, Any]:
        pending = await self._current(number, ("code_sent",))
        return await self._run(number, pending, lambda: pending.flow.submit_code(code))

    async def submit_password(self, number: int, password: str) -> dict[str, Any]:
        pending = await self._current(number, ("password_needed",))
        return await self._run(number, pending, lambda: pending.flow.submit_password(password))

    async def start_qr(self, number: int) -> dict[str, Any]:
        pending = await self._begin(number, "qr")
        body = await self._run(number, pending, pending.flow.start_qr)
        pending.qr_task = asyncio.create_task(self._wait_for_scan(number, pending))
        return body

    async def _wait_for_scan(self, number: int, pending: PendingLogin) -> None:
        """Refresh the QR token before it expires until the phone scans it."""
        while self._pending.get(number) is pending and pending.step == "awaiting_qr":
            expires = pending.qr_expires_at
            left = (expires - self._clock()).total_seconds() if expires else 30.0
            try:
                step = await pending.flow.wait_qr(max(0.1, min(left, self.qr_round_s)))
            except LoginError as exc:
                pending.error = {"code": exc.code, "message": str(exc)}
                await self._end(number)
                self._last_error[number] = pending.error
                await self._status(number, "logged_out", f"login failed: {exc.code}")
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("instance %s: QR login failed", number)
                await asyncio.sleep(1)
                continue
            async with pending.lock:
                previous = pending.step
                await self._apply(number, pending, step)
                if previous == "awaiting_qr" and step.step == "awaiting_qr":
                    continue

    async def logout(self, number: int) -> None:
        backend = self._backend(number)
        await self._end(number)
        self._completed.pop(number, None)
        await backend.log_out()  # the backend reports `logged_out` (an instance.status event)

    async def close(self) -> None:
        for number in list(self._pending):
            pending = self._pending.pop(number)
            for task in (pending.qr_task, pending.timer):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            suspend = getattr(pending.flow, "suspend", None)
            with contextlib.suppress(Exception):
                await (suspend() if suspend is not None else pending.flow.close())
