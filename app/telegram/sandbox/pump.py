"""The update pump: offers the stored updates to the gateway in order, from the stored position
(like pts), so they are replayed after a restart; each batch it reads goes to the handler at
once."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence
from functools import partial
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection, Row

from app.db import OutageLog, retry_while_unavailable
from app.errors import DatabaseUnavailable
from app.models import table_of
from app.telegram.notices import login_alert_from_notice
from app.telegram.port import (
    ALL_MEDIA_KINDS,
    SERVICE_USER_ID,
    GroupRef,
    IncomingMedia,
    IncomingMessage,
    Location,
    LoginAlert,
    MediaKind,
    OutboxRead,
    Sender,
    SharedContact,
    Update,
    UpdateHandler,
)
from app.telegram.sandbox.changes import change_update
from app.telegram.sandbox.state import _A, _G, _M, _U, _UP, SandboxState, log
from app.telegram.sandbox.tables import SandboxAuthorization

# An update whose handling keeps failing is given up after this many tries.
MAX_UPDATE_ATTEMPTS = 5

# Updates the pump reads at once.
UPDATE_BATCH = 200

_SET_CONSUMED = (
    update(_A)
    .where(_A.c.instance == bindparam("b_instance"))
    .values(consumed_update_id=bindparam("b_consumed"))
)
_SEL_CONSUMED = select(_A.c.consumed_update_id).where(_A.c.instance == bindparam("instance"))
# The next updates with everything the port needs to show them (the message and its sender):
# one query per batch instead of three per update.
_SEL_UPDATES = (
    select(
        _UP.c.id,
        _UP.c.type,
        _UP.c.user_id.label("read_user_id"),
        _UP.c.max_id,
        _M.c.message_id,
        _M.c.kind,
        _M.c.text,
        _M.c.caption,
        _M.c.filename,
        _M.c.mime_type,
        _M.c.data,
        _M.c.reply_to,
        _M.c.contact_number,
        _M.c.contact_user_id,
        _M.c.sent_at,
        _M.c.chat_id,
        _M.c.mentions_account,
        _M.c.edited_at,
        _M.c.details,
        _UP.c.emoji,
        _G.c.group_name.label("group_title"),
        _U.c.user_id.label("sender_id"),
        _U.c.access_hash,
        _U.c.number,
        _U.c.phone_visible,
        _U.c.first_name,
        _U.c.last_name,
        _U.c.username,
        _U.c.is_bot,
    )
    .select_from(
        _UP.outerjoin(
            _M, and_(_M.c.instance == _UP.c.instance, _M.c.message_id == _UP.c.message_id)
        )
        .outerjoin(_U, and_(_U.c.instance == _M.c.instance, _U.c.user_id == _M.c.user_id))
        .outerjoin(_G, and_(_G.c.instance == _M.c.instance, _G.c.chat_id == _M.c.chat_id))
    )
    .where(_UP.c.instance == bindparam("instance"), _UP.c.id > bindparam("after"))
    .order_by(_UP.c.id)
    .limit(bindparam("limit"))
)


class PumpMixin(SandboxState):
    """The update pump's task body and the position it keeps."""

    _poll_interval_s: float
    _failures: dict[int, int]
    _outage: OutageLog
    consumed_update_id: int
    _saved_update_id: int
    _waiting: list[tuple[int, int, asyncio.Future[None]]]
    _waiting_order: itertools.count[int]

    async def _pump_updates(self, on_update: UpdateHandler) -> None:
        """Offers the updates in order until cancelled. A database outage pauses it: the update
        that could not be handled is offered again once the database is back (an outage never
        counts as one of an update's failed tries, after which it would be skipped)."""
        position = await retry_while_unavailable(
            partial(self._sql.run, self._read_position), self._outage, self._poll_interval_s
        )
        self._saved_update_id = position
        self._advance(position)  # also answers any request that waited for what was done
        while True:
            try:
                handled = await self._deliver_batch(on_update)
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable as exc:
                self._outage.failed(exc)
                handled = 0
                await asyncio.sleep(self._poll_interval_s)
            except Exception:
                log.exception(
                    "sandbox %s: an update failed; it will be offered again", self.instance
                )
                handled = 0
                await asyncio.sleep(self._poll_interval_s)
            else:
                self._outage.ok()
            if handled < UPDATE_BATCH:
                # Caught up as of that read. What this process wrote since has woken the topic
                # (the wait then returns at once), so no second read just to find nothing;
                # other processes' writes are found at the next poll, as when idle.
                await self._wakeup.wait(self._topic, self._poll_interval_s)

    def _read_position(self, conn: Connection) -> int:
        return int(conn.execute(_SEL_CONSUMED, {"instance": self.instance}).scalar() or 0)

    async def _deliver_batch(self, on_update: UpdateHandler) -> int:
        """Offer the next updates in order; how many were read (0: none is waiting).

        They go to the handler all at once; if that fails, one by one, so that the failures
        of an update that keeps failing are counted and it is given up alone.
        """
        position = self.consumed_update_id
        save = position > self._saved_update_id
        rows = await self._sql.run(partial(self._next_updates, position=position, save=save))
        self._saved_update_id = max(self._saved_update_id, position)
        logins = await self._login_alerts(rows)  # {} unless the batch announces a login
        updates = [(int(row.id), self._to_port(row, logins)) for row in rows]
        offered = [pushed for _, pushed in updates if pushed is not None]
        if len(offered) > 1 and await self._offer_all(on_update, offered):
            for update_id, _ in updates:
                self._failures.pop(update_id, None)
            self._advance(updates[-1][0])
            return len(updates)
        for update_id, pushed in updates:
            if pushed is not None:
                await self._offer_one(on_update, update_id, pushed)
            self._advance(update_id)
        return len(updates)

    async def _offer_all(self, on_update: UpdateHandler, updates: list[Update]) -> bool:
        """Hand the updates to the handler at once; False if it failed (not for an outage)."""
        try:
            await on_update(updates)
        except DatabaseUnavailable:
            raise  # not the updates' fault: offered again, not counted
        except Exception:
            log.warning(
                "sandbox %s: a batch of %d updates failed; offered one by one",
                self.instance,
                len(updates),
                exc_info=True,
            )
            return False
        return True

    async def _offer_one(self, on_update: UpdateHandler, update_id: int, pushed: Update) -> None:
        try:
            await on_update([pushed])
        except DatabaseUnavailable:
            raise  # not the update's fault: offered again, not counted
        except Exception:
            # Offered again on the next round; one that keeps failing must not hold up every
            # later update forever, so it is given up after a few tries, loudly.
            failures = self._failures.get(update_id, 0) + 1
            self._failures[update_id] = failures
            if failures < MAX_UPDATE_ATTEMPTS:
                raise
            log.error(
                "sandbox %s: update %s failed %d times; skipped",
                self.instance,
                update_id,
                failures,
            )
        self._failures.pop(update_id, None)

    def _next_updates(self, conn: Connection, position: int, save: bool) -> list[Row[Any]]:
        """Record the position reached (the previous batch's updates) and read the next batch,
        in one transaction.

        The position is stored a batch late rather than after every update: an update handled
        but not yet recorded when the process dies is offered again at the next start, which
        the handler takes as a replay (it is idempotent, keyed by the Telegram message id),
        exactly as one handled just before a crash always was.
        """
        if save:
            self._record_position(conn, position)
        params = {"instance": self.instance, "after": position, "limit": UPDATE_BATCH}
        return list(conn.execute(_SEL_UPDATES, params))

    def _record_position(self, conn: Connection, position: int) -> None:
        conn.execute(_SET_CONSUMED, {"b_instance": self.instance, "b_consumed": position})

    async def _save_position(self) -> None:
        position = self.consumed_update_id
        if position <= self._saved_update_id:
            return
        try:
            await self._sql.run(partial(self._record_position, position=position))
        except Exception:  # replayed at the next start: harmless, see _next_updates
            log.warning("sandbox %s: could not record the update position", self.instance)
            return
        self._saved_update_id = position

    async def _login_alerts(self, rows: Sequence[Row[Any]]) -> dict[int, LoginAlert]:
        """The login updates of a batch as port alerts, by update id (one query, when any)."""
        ids = [int(row.id) for row in rows if row.type == "login"]
        if not ids:
            return {}
        return await self._sql.run(partial(self._read_logins, update_ids=ids))

    def _read_logins(self, conn: Connection, update_ids: list[int]) -> dict[int, LoginAlert]:
        auth = table_of(SandboxAuthorization)
        found = conn.execute(
            select(auth).where(auth.c.instance == self.instance, auth.c.update_id.in_(update_ids))
        )
        return {
            int(row.update_id): LoginAlert(
                source="update",
                date=row.created_at,
                hash=int(row.hash),
                device=row.device_model,
                location=row.location,
                unconfirmed=True,
            )
            for row in found
        }

    def _advance(self, update_id: int) -> None:
        """Update `update_id` is handled: answer the requests that wait for it."""
        self.consumed_update_id = update_id
        waiting = self._waiting
        while waiting and waiting[0][0] <= update_id:
            future = heapq.heappop(waiting)[2]
            if not future.done():
                future.set_result(None)

    def _to_port(self, row: Row[Any], logins: dict[int, LoginAlert] | None = None) -> Update | None:
        """An update as the port shows it (a row of `_SEL_UPDATES`); None when its message or
        sender is gone."""
        if row.type == "read":
            return OutboxRead(user_id=row.read_user_id or 0, max_id=row.max_id or 0)
        if row.type == "login":
            return (logins or {}).get(int(row.id))
        group = None
        if row.chat_id is not None and row.group_title is not None:
            group = GroupRef(chat_id=int(row.chat_id), title=row.group_title)
        if row.type in ("edit", "delete", "reaction"):
            return change_update(row, group, self._clock())
        if row.sender_id is None:
            return None
        if row.sender_id == SERVICE_USER_ID:
            # Telegram's "New login" notice comes as the alert, never as a message.
            notice = login_alert_from_notice(row.text or "", row.sent_at, int(row.message_id))
            if notice is not None:
                return notice
        sender = Sender(
            user_id=row.sender_id,
            access_hash=row.access_hash,
            phone=row.number if row.phone_visible else None,
            first_name=row.first_name,
            last_name=row.last_name,
            username=row.username,
            is_bot=bool(row.is_bot),
        )
        contact = None
        if row.contact_number is not None:
            contact = SharedContact(phone=row.contact_number, user_id=row.contact_user_id or 0)
        media = None
        if row.kind in ALL_MEDIA_KINDS and row.data is not None:
            kind: MediaKind = row.kind
            media = IncomingMedia(kind, row.data, row.filename, row.mime_type)
        return IncomingMessage(
            message_id=row.message_id,
            date=row.sent_at,
            sender=sender,
            text=row.text or row.caption or "",
            contact=contact,
            media=media,
            reply_to_message_id=row.reply_to,
            group=group,
            mentioned=bool(row.mentions_account),
            location=_location(row.details) if row.kind == "location" else None,
        )

    async def wait_consumed(self, update_id: int, timeout_s: float) -> bool:
        """Wait until the gateway has handled update `update_id` (in this process)."""
        if self.consumed_update_id >= update_id:
            return True
        if len(self._waiting) > 4096:
            # Requests that gave up (no pump runs here: another process holds the instance).
            self._waiting = [entry for entry in self._waiting if not entry[2].done()]
            heapq.heapify(self._waiting)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (update_id, next(self._waiting_order), future))
        try:
            async with asyncio.timeout(timeout_s):
                await future
        except TimeoutError:
            return False
        return True


def _location(details: str | None) -> Location | None:
    """The location an inbound message's `details` keeps (inbound.py `_inbound_row`)."""
    found = orjson.loads(details).get("location") if details else None
    return Location(**found) if isinstance(found, dict) else None
