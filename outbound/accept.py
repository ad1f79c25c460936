"""Accepting a send: registration check, daily quota, idempotency and a durable enqueue.

Everything a request changes commits in one transaction before the caller is answered, so an
accepted message is on disk before the 200.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.clients import authenticate
from app.db import GroupCommit, SessionFactory, transaction
from app.errors import ApiError
from app.models import DailyUsage, IdempotencyRecord, MediaBlob, Message, Recipient
from app.queueing import QueueClock, Wakeup, new_message
from app.settings import Settings
from outbound.validation import CheckedMedia

IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class SendRequest:
    """A validated request; only the checks that need the database remain."""

    instance: int
    kind: str
    to_number: str | None = None
    group_name: str | None = None
    group_admin: str | None = None
    text: str | None = None
    media: CheckedMedia | None = None
    caption: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class Credentials:
    client_id: str | None
    secret: str | None
    idempotency_key: str | None


def request_fingerprint(path: str, body: bytes) -> str:
    return hashlib.sha256(path.encode() + b"\0" + body).hexdigest()


def seconds_to_next_day(now: datetime, zone: str) -> tuple[str, int]:
    """Today's date in the quota's time zone and the whole seconds until its midnight."""
    local = now.astimezone(ZoneInfo(zone))
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.date().isoformat(), max(1, int((midnight - local).total_seconds() + 0.999))


Renderer = Callable[[Message], tuple[int, dict[str, Any]]]


class Enqueuer:
    def __init__(
        self,
        factory: SessionFactory,
        settings: Settings,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        *,
        group_commit: bool = False,
        read_factory: SessionFactory | None = None,
        stamps: QueueClock | None = None,
    ) -> None:
        self._factory = factory
        self._read_factory = read_factory or factory
        self._settings = settings
        self._wakeup = wakeup
        self._clock = clock
        self._stamps = stamps or QueueClock(clock)
        # SQLite: batch concurrent requests into one transaction (see GroupCommit).
        self._group_commit = GroupCommit(factory) if group_commit else None

    def check_instance(self, number: int) -> None:
        if self._settings.instance(number) is None:
            known = ", ".join(str(i.number) for i in self._settings.instances)
            raise ApiError(
                "unknown_instance", f"Invalid gateway instance number {number} (known: {known})"
            )

    async def authenticate(self, creds: Credentials) -> str:
        async with self._read_factory() as session:
            return await authenticate(session, creds.client_id, creds.secret, self._clock())

    async def replay(
        self, client_id: str, key: str | None, fingerprint: str
    ) -> tuple[int, dict[str, Any]] | None:
        """The first answer for a repeated Idempotency-Key, or None if the key is new."""
        if not key:
            return None
        if len(key) > 255 or not key.isprintable():
            raise ApiError(
                "invalid_field", "Idempotency-Key must be at most 255 printable characters"
            )
        async with self._read_factory() as session:
            row = await session.get(IdempotencyRecord, (client_id, key))
            return self._replay_row(row, fingerprint)

    def _replay_row(
        self, row: IdempotencyRecord | None, fingerprint: str
    ) -> tuple[int, dict[str, Any]] | None:
        if row is None or row.created_at + IDEMPOTENCY_WINDOW <= self._clock():
            return None
        if row.request_hash != fingerprint:
            raise ApiError(
                "idempotency_conflict",
                "Idempotency-Key was already used with a different request body",
            )
        body: dict[str, Any] = orjson.loads(row.response_body)
        return row.status_code, body

    async def enqueue(
        self,
        client_id: str,
        request: SendRequest,
        *,
        idempotency_key: str | None,
        fingerprint: str,
        render: Renderer,
    ) -> tuple[int, dict[str, Any]]:
        now = self._clock()

        async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
            if idempotency_key:
                existing = await session.get(IdempotencyRecord, (client_id, idempotency_key))
                replayed = self._replay_row(existing, fingerprint)
                if replayed is not None:
                    return replayed
                if existing is not None:
                    await session.delete(existing)  # older than the window
                    await session.flush()
            if request.to_number is not None:
                await self._check_registered(session, request.instance, request.to_number)
            await self._count_against_quota(session, now)
            message = self._build(client_id, request, now, session)
            session.add(message)
            status, body = render(message)
            if idempotency_key:
                session.add(
                    IdempotencyRecord(
                        client_id=client_id,
                        key=idempotency_key,
                        request_hash=fingerprint,
                        status_code=status,
                        response_body=orjson.dumps(body).decode(),
                        created_at=now,
                    )
                )
            await session.flush()
            return status, body

        try:
            if self._group_commit is not None:
                status, body = await self._group_commit.run(work)
            else:
                async with transaction(self._factory) as session:
                    status, body = await work(session)
        except IntegrityError:
            # A concurrent request with the same Idempotency-Key won the race: answer as it did.
            replayed = await self.replay(client_id, idempotency_key, fingerprint)
            if replayed is None:
                raise
            return replayed
        self._wakeup.notify(f"send:{request.instance}")
        return status, body

    async def _check_registered(self, session: AsyncSession, instance: int, number: str) -> None:
        found = await session.scalar(
            select(col(Recipient.id))
            .where(
                and_(
                    col(Recipient.instance) == instance,
                    col(Recipient.number) == number,
                    col(Recipient.status) == "registered",
                )
            )
            .limit(1)
        )
        if found is None:
            raise ApiError(
                "recipient_not_registered",
                f"Destination number {number} has not registered with the gateway (or opted "
                "out): ask them to add the gateway's number to their contacts and say Hi",
            )

    async def _count_against_quota(self, session: AsyncSession, now: datetime) -> None:
        limits = self._settings.limits
        day, retry_after_s = seconds_to_next_day(now, limits.day_timezone)
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        table = DailyUsage.__table__  # type: ignore[attr-defined]
        stmt = (
            insert(table)
            .values(day=day, count=1)
            .on_conflict_do_update(
                index_elements=["day"],
                set_={"count": table.c.count + 1},
                where=table.c.count < limits.messages_per_day,
            )
            .returning(table.c.count)
        )
        counted = (await session.execute(stmt)).scalar()
        if counted is None or counted > limits.messages_per_day:
            raise ApiError(
                "quota_exceeded",
                f"You have consumed all the paid daily quota ({limits.messages_per_day} "
                f"messages a day); it resets in {retry_after_s} s",
                headers={"Retry-After": str(retry_after_s)},
            )

    def _build(
        self, client_id: str, request: SendRequest, now: datetime, session: AsyncSession
    ) -> Message:
        media = request.media
        media_id = None
        if media is not None:
            media_id = str(uuid.uuid4())
            session.add(
                MediaBlob(
                    id=media_id,
                    sha256=media.sha256,
                    size=media.size,
                    mime_type=media.mime_type,
                    data=media.data,
                    created_at=now,
                )
            )
        return new_message(
            instance=request.instance,
            kind=request.kind,
            now=now,
            created_at=self._stamps(),
            client_id=client_id,
            to_number=request.to_number,
            group_name=request.group_name,
            group_admin=request.group_admin,
            text=request.text,
            caption=request.caption,
            filename=media.filename if media else None,
            mime_type=media.mime_type if media else None,
            media_id=media_id,
            media_size=media.size if media else None,
            media_sha256=media.sha256 if media else None,
            reply_to=request.reply_to,
        )
