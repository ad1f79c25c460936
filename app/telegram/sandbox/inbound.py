"""People writing to the gateway (admin endpoint): checked one by one, written in batches (group
commit), each message with its update for the pump; and people reading what was sent."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import col

from app.db import transaction
from app.queueing import settle
from app.telegram.port import ALL_MEDIA_KINDS
from app.telegram.sandbox.state import (
    _A,
    _INSERT_MESSAGE,
    _TAKE_MESSAGE_IDS,
    _U,
    _UP,
    SandboxInputError,
    SandboxState,
    fake_access_hash,
    fake_user_id,
    gateway_phone,
)
from app.telegram.sandbox.tables import SandboxUpdate
from app.telegram.sandbox.tables import SandboxUser as SandboxUserRow

# Built once: constructing a Core statement costs more than running it.
_INSERT_ACCOUNT = insert(_A)
_SEL_USERS = select(
    _U.c.id,
    _U.c.user_id,
    _U.c.number,
    _U.c.first_name,
    _U.c.last_name,
    _U.c.username,
    _U.c.phone_visible,
    _U.c.is_bot,
).where(_U.c.instance == bindparam("instance"), _U.c.number.in_(bindparam("numbers")))
_INSERT_USER = insert(_U)
_UPDATE_USER = (
    update(_U)
    .where(_U.c.id == bindparam("b_id"))
    .values(
        first_name=bindparam("b_first"),
        last_name=bindparam("b_last"),
        username=bindparam("b_username"),
        phone_visible=bindparam("b_visible"),
        is_bot=bindparam("b_bot"),
    )
)
# sort_by_parameter_order: the ids come back in the order of the rows given (one per request).
_INSERT_UPDATES = insert(_UP).returning(_UP.c.id, sort_by_parameter_order=True)
# Inbound requests written in one transaction at most.
INBOUND_BATCH = 256


@dataclass(frozen=True)
class InboundPerson:
    number: str
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    phone_visible: bool = True
    is_bot: bool = False


@dataclass
class _Inbound:
    """A message a person writes, waiting for its batch (see `SandboxTelegram.inbound`)."""

    person: InboundPerson
    row: dict[str, Any]  # its sandbox_message columns, less those the batch assigns
    future: asyncio.Future[tuple[int, int]]


def _inbound_row(
    instance: int,
    person: InboundPerson,
    text: str | None,
    contact: dict[str, Any] | None,
    media: dict[str, Any] | None,
    reply_to: int | None,
    chat_id: int | None = None,
    mentions_account: bool = False,
    location: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check an inbound message (SandboxInputError) and give its row; checked before it joins
    a batch, so that a malformed request fails alone and writes nothing."""
    kind = "text"
    data = None
    filename = mime = None
    contact_number = contact_user_id = None
    details = None
    if location is not None:
        # Kept as an outgoing location is (`details`), for the pump to show it again.
        kind = "location"
        details = orjson.dumps({"location": _checked_location(location)}).decode()
    elif contact is not None:
        kind = "contact"
        contact_number = str(contact.get("number") or "").lstrip("+")
        # ASCII digits only (isdigit() alone takes other scripts' digits), as long as the
        # sandbox_message.contact_number column allows.
        if not (contact_number.isascii() and contact_number.isdigit()) or len(contact_number) > 20:
            raise SandboxInputError("contact.number must be a phone number")
        raw_id = contact.get("user_id")
        contact_user_id = int(raw_id) if raw_id is not None else fake_user_id(contact_number)
    elif media is not None:
        kind = str(media.get("kind") or "")
        if kind not in ALL_MEDIA_KINDS:
            raise SandboxInputError(f"media.kind must be one of {', '.join(ALL_MEDIA_KINDS)}")
        try:
            data = base64.b64decode(str(media.get("base64") or ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SandboxInputError("media.base64 is not valid base64") from exc
        if not data:
            raise SandboxInputError("media.base64 is empty")
        filename = media.get("filename")
        mime = media.get("mime_type")
    elif not text:
        raise SandboxInputError("give text, contact, media or location")
    return {
        "instance": instance,
        "direction": "in",
        "chat_id": chat_id,
        "number": person.number,
        "kind": kind,
        "text": text if kind in ("text", "contact") else None,
        "caption": text if kind in ALL_MEDIA_KINDS else None,
        "filename": filename,
        "mime_type": mime,
        "size": len(data) if data else None,
        "sha256": hashlib.sha256(data).hexdigest() if data else None,
        "data": data,
        "random_id": None,
        "reply_to": reply_to,
        "contact_number": contact_number,
        "contact_user_id": contact_user_id,
        "mentions_account": mentions_account,
        "details": details,  # every row has it: a batch is one executemany
    }


def _checked_location(location: dict[str, Any]) -> dict[str, Any]:
    """The location's four fields (SandboxInputError when the point is off the map)."""
    try:
        latitude, longitude = float(location["latitude"]), float(location["longitude"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SandboxInputError("location needs a numeric latitude and longitude") from exc
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise SandboxInputError("location is off the map (latitude -90..90, longitude -180..180)")
    return {
        "latitude": latitude,
        "longitude": longitude,
        "title": location.get("title") or None,
        "address": location.get("address") or None,
    }


class InboundMixin(SandboxState):
    """The inbound side of the simulation's controls."""

    _inbox: list[_Inbound]
    _inbox_writer: asyncio.Task[None] | None

    async def inbound(
        self,
        person: InboundPerson,
        *,
        text: str | None = None,
        contact: dict[str, Any] | None = None,
        media: dict[str, Any] | None = None,
        reply_to: int | None = None,
        chat_id: int | None = None,
        mentions_account: bool = False,
        location: dict[str, Any] | None = None,
    ) -> tuple[int, int]:
        """As if `person` wrote to the gateway (or in group `chat_id`, of which they must be a
        member: `group_member`): (telegram message id, update id).

        People writing at the same time are written together (group commit, as
        outbound/accept.py does for sends): requests that arrive while a batch is being written
        join the next one, and a batch is one transaction of prebuilt statements on the
        SqlRunner. Each caller is answered once its batch has committed.
        """
        row = _inbound_row(
            self.instance,
            person,
            text,
            contact,
            media,
            reply_to,
            chat_id,
            mentions_account,
            location,
        )
        future: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._inbox.append(_Inbound(person, row, future))
        if self._inbox_writer is None or self._inbox_writer.done():
            self._inbox_writer = asyncio.create_task(self._write_inbound())
        # shield: a caller that goes away must not cancel the batch the others wait on
        return await asyncio.shield(future)

    async def _write_inbound(self) -> None:
        while self._inbox:
            batch = self._inbox[:INBOUND_BATCH]
            del self._inbox[:INBOUND_BATCH]
            now = self._clock()
            outcomes: list[tuple[int, int] | BaseException]
            try:
                outcomes = list(
                    await self._sql.run(partial(self._store_inbound, batch=batch, now=now))
                )
            except Exception as exc:
                outcomes = [exc]
                if len(batch) > 1:
                    # One bad request (a value the database refuses) must not fail the others
                    # of its batch: written one by one, only that one fails.
                    outcomes = [await self._store_alone(item, now) for item in batch]
            if any(not isinstance(outcome, BaseException) for outcome in outcomes):
                self._wakeup.notify(self._topic)  # the pump looks now, not at its next poll
            settle((item.future for item in batch), outcomes)

    async def _store_alone(self, item: _Inbound, now: datetime) -> tuple[int, int] | BaseException:
        try:
            return (await self._sql.run(partial(self._store_inbound, batch=[item], now=now)))[0]
        except Exception as exc:
            return exc

    def _store_inbound(
        self, conn: Connection, batch: list[_Inbound], now: datetime
    ) -> list[tuple[int, int]]:
        """A batch of inbound messages in one transaction (on the SqlRunner): the people, the
        messages with their ids, and one update each, in arrival order."""
        instance = self.instance
        params = {"b_instance": instance, "b_count": len(batch)}
        last_id = conn.execute(_TAKE_MESSAGE_IDS, params).scalar()
        if last_id is None:  # the account is made on start(); a request may come first
            phone = gateway_phone(instance)
            conn.execute(
                _INSERT_ACCOUNT,
                {
                    "instance": instance,
                    "phone": phone,
                    "user_id": fake_user_id(phone),
                    "last_message_id": len(batch),
                },
            )
            last_id = len(batch)
        first_id = int(last_id) - len(batch) + 1
        user_ids = self._upsert_users(conn, [item.person for item in batch])
        messages = [
            {
                **item.row,
                "message_id": first_id + index,
                "user_id": user_ids[item.person.number],
                "sent_at": now,
            }
            for index, item in enumerate(batch)
        ]
        conn.execute(_INSERT_MESSAGE, messages)
        updates = [
            {"instance": instance, "type": "message", "message_id": m["message_id"]}
            for m in messages
        ]
        update_ids = conn.execute(_INSERT_UPDATES, updates).scalars().all()
        return [(int(m["message_id"]), int(u)) for m, u in zip(messages, update_ids, strict=True)]

    def _upsert_users(self, conn: Connection, people: list[InboundPerson]) -> dict[str, int]:
        """Create or refresh the people of a batch; their user ids by number.

        A person who writes twice in one batch ends with the names of the later message, as
        if the two had been written one after the other.
        """
        instance = self.instance
        latest = {person.number: person for person in people}
        found = {
            row.number: row
            for row in conn.execute(_SEL_USERS, {"instance": instance, "numbers": list(latest)})
        }
        user_ids: dict[str, int] = {}
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for number, person in latest.items():
            names = (
                person.first_name,
                person.last_name,
                person.username,
                person.phone_visible,
                person.is_bot,
            )
            row = found.get(number)
            if row is None:
                user_id = fake_user_id(number)
                new.append(
                    {
                        "instance": instance,
                        "user_id": user_id,
                        "access_hash": fake_access_hash(instance, user_id),
                        "number": number,
                        "first_name": person.first_name,
                        "last_name": person.last_name,
                        "username": person.username,
                        "phone_visible": person.phone_visible,
                        "is_bot": person.is_bot,
                    }
                )
            else:
                user_id = int(row.user_id)
                stored = (
                    row.first_name,
                    row.last_name,
                    row.username,
                    bool(row.phone_visible),
                    bool(row.is_bot),
                )
                if stored != names:
                    changed.append(
                        {
                            "b_id": row.id,
                            "b_first": person.first_name,
                            "b_last": person.last_name,
                            "b_username": person.username,
                            "b_visible": person.phone_visible,
                            "b_bot": person.is_bot,
                        }
                    )
            user_ids[number] = user_id
        if new:
            conn.execute(_INSERT_USER, new)
        if changed:
            conn.execute(_UPDATE_USER, changed)
        return user_ids

    async def mark_read(self, number: str, max_message_id: int) -> int:
        async with transaction(self._factory) as session:
            user: SandboxUserRow | None = await session.scalar(
                select(SandboxUserRow).where(
                    and_(
                        col(SandboxUserRow.instance) == self.instance,
                        col(SandboxUserRow.number) == number,
                    )
                )
            )
            if user is None:
                raise SandboxInputError(f"no sandbox person with number {number}")
            user.max_read_id = max(user.max_read_id, max_message_id)
            update = SandboxUpdate(
                instance=self.instance, type="read", user_id=user.user_id, max_id=user.max_read_id
            )
            session.add(update)
            await session.flush()
            update_id = update.id or 0
        self._wakeup.notify(self._topic)
        return update_id
