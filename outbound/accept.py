"""Accepting a send: registration check, daily quota, idempotency and a durable enqueue.

Everything a request changes commits in one transaction before the caller is answered, so an
accepted message is on disk before the 200. Requests are accepted in batches (group commit):
the statements are SQLAlchemy Core with few round trips, as this path is the gateway's hottest.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from app.client_limits import Grant
from app.clients import ClientCache
from app.db import Database
from app.errors import ApiError, DatabaseUnavailable
from app.models import IdempotencyRecord, MediaBlob, Message, table_of
from app.queueing import QueueClock, Wakeup, message_row, settle
from app.settings import Settings
from outbound.audio import prepare_audio
from outbound.details import dump_details, request_details
from outbound.quota import Want, take_quota
from outbound.registered import first_unregistered
from outbound.send_request import (
    Answer,
    Credentials,
    ManyRenderer,
    Renderer,
    SendRequest,
    check_idempotency_key,
    not_registered,
)

IDEMPOTENCY_WINDOW = timedelta(hours=24)


_IDEMPOTENCY_LOOKUP = text(
    "SELECT request_hash, status_code, response_body, created_at FROM idempotency_record "
    "WHERE client_id = :client_id AND key = :key"
)
_IDEMPOTENCY_DELETE = text(
    "DELETE FROM idempotency_record WHERE client_id = :client_id AND key = :key"
)


@dataclass
class _Pending:
    """One HTTP request: one message, or several that are accepted all together or not at all
    (a WhatsMate v1 batch). Either way it has one answer and at most one Idempotency-Key."""

    client_id: str
    requests: tuple[SendRequest, ...]
    key: str | None
    fingerprint: str
    render: ManyRenderer
    future: asyncio.Future[Answer]
    client_quota: int | None = None  # the client's own messages a day, besides the deployment's


class Enqueuer:
    """Accepts sends in batches: every request that arrives while a batch is being written
    joins the next one, and a batch is one transaction (one fsync on SQLite) run by the
    SqlRunner. An answer is handed back only after its batch has committed.
    """

    def __init__(
        self,
        database: Database,
        settings: Settings,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        *,
        stamps: QueueClock | None = None,
        clients: ClientCache | None = None,
        max_batch: int = 256,
    ) -> None:
        self._db = database
        self._settings = settings
        self._wakeup = wakeup
        self._clock = clock
        self._stamps = stamps or QueueClock(clock)
        self.clients = clients or ClientCache(database, clock)
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._runner: asyncio.Task[None] | None = None

    def check_instance(self, number: int) -> None:
        if self._settings.instance(number) is None:
            known = ", ".join(str(i.number) for i in self._settings.instances)
            raise ApiError(
                "unknown_instance", f"Invalid gateway instance number {number} (known: {known})"
            )

    async def authenticate(self, creds: Credentials) -> Grant:
        return await self.clients.authenticate(creds.client_id, creds.secret)

    async def replay(self, client_id: str, key: str | None, fingerprint: str) -> Answer | None:
        """The first answer for a repeated Idempotency-Key, or None if the key is new."""
        if not key:
            return None
        check_idempotency_key(key)
        async with self._db.read() as session:
            row = (
                await session.execute(_IDEMPOTENCY_LOOKUP, {"client_id": client_id, "key": key})
            ).first()
        return self._replay_row(row, fingerprint)

    def _replay_row(self, row: Any, fingerprint: str) -> Answer | None:
        if row is None:
            return None
        created_at = _aware(row.created_at)
        if created_at + IDEMPOTENCY_WINDOW <= self._clock():
            return None
        if row.request_hash != fingerprint:
            raise ApiError(
                "idempotency_conflict",
                "Idempotency-Key was already used with a different request body",
            )
        body: dict[str, Any] = orjson.loads(row.response_body)
        return int(row.status_code), body

    async def enqueue(
        self,
        client_id: str,
        request: SendRequest,
        *,
        idempotency_key: str | None,
        fingerprint: str,
        render: Renderer,
        client_quota: int | None = None,
    ) -> Answer:
        return await self.enqueue_all(
            client_id,
            [request],
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            render=lambda rows: render(rows[0]),
            client_quota=client_quota,
        )

    async def enqueue_all(
        self,
        client_id: str,
        requests: Sequence[SendRequest],
        *,
        idempotency_key: str | None,
        fingerprint: str,
        render: ManyRenderer,
        client_quota: int | None = None,
    ) -> Answer:
        """Accept every one of `requests` or none: each recipient must be registered, and the
        daily quotas (the deployment's, and `client_quota` if the client has one) must have
        room for all of them (they count each message)."""
        if not requests:
            raise ValueError("nothing to enqueue")
        if idempotency_key:
            check_idempotency_key(idempotency_key)
        requests = await prepare_audio(requests)  # voice notes to OGG/Opus, before the 200
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.append(
            _Pending(
                client_id,
                tuple(requests),
                idempotency_key,
                fingerprint,
                render,
                future,
                client_quota,
            )
        )
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        # shield: a caller that goes away must not cancel the batch the others wait on
        answer = await asyncio.shield(future)
        for instance in sorted({r.instance for r in requests}):
            self._wakeup.notify(f"send:{instance}")
        return answer

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            now = self._clock()
            try:
                outcomes = await self._db.run(
                    partial(self._accept, batch=batch, now=now), urgent=True
                )
            except IntegrityError:
                # Another process took an Idempotency-Key of this batch at the same moment:
                # accept one by one, so that only that request answers as the other did.
                outcomes = [await self._accept_alone(item, now) for item in batch]
            except Exception as exc:  # the batch did not commit (DatabaseUnavailable says when
                # the connection was lost during COMMIT, so that it may have)
                outcomes = [exc] * len(batch)
            settle((item.future for item in batch), outcomes)

    async def _accept_alone(self, item: _Pending, now: datetime) -> Answer | BaseException:
        try:
            return (await self._db.run(partial(self._accept, batch=[item], now=now), urgent=True))[
                0
            ]
        except IntegrityError as exc:
            try:
                replayed = await self.replay(item.client_id, item.key, item.fingerprint)
            except ApiError as conflict:
                return conflict
            return replayed if replayed is not None else exc
        except Exception as exc:
            return exc

    def _accept(
        self, conn: Connection, batch: list[_Pending], now: datetime
    ) -> list[Answer | BaseException]:
        """One batch, in one transaction (runs on the SqlRunner's thread or through run_sync)."""
        outcomes: list[Answer | BaseException | None] = [None] * len(batch)
        first_use: dict[tuple[str, str], int] = {}
        candidates: list[int] = []
        for index, item in enumerate(batch):
            try:
                if item.key:
                    scope = (item.client_id, item.key)
                    if scope in first_use:
                        continue  # the same key twice in one batch: answered as the first below
                    first_use[scope] = index
                    params = {"client_id": item.client_id, "key": item.key}
                    previous = conn.execute(_IDEMPOTENCY_LOOKUP, params).first()
                    replayed = self._replay_row(previous, item.fingerprint)
                    if replayed is not None:
                        outcomes[index] = replayed
                        continue
                    if previous is not None:
                        conn.execute(_IDEMPOTENCY_DELETE, params)  # older than the window
                candidates.append(index)
            except DatabaseUnavailable:
                raise  # the whole batch fails: nothing of it commits
            except ApiError as exc:
                outcomes[index] = exc
        candidates = self._registered_only(conn, batch, candidates, outcomes)
        accepted = self._take_quota(conn, batch, candidates, outcomes, now)
        messages: list[dict[str, Any]] = []
        blobs: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        for index in accepted:
            item = batch[index]
            rows, item_blobs = self._rows(item, now)
            messages.extend(rows)
            blobs.extend(item_blobs)
            status, body = item.render(rows)
            outcomes[index] = (status, body)
            if item.key:
                records.append(
                    {
                        "client_id": item.client_id,
                        "key": item.key,
                        "request_hash": item.fingerprint,
                        "status_code": status,
                        "response_body": orjson.dumps(body).decode(),
                        "created_at": now,
                    }
                )
        if blobs:
            conn.execute(insert(table_of(MediaBlob)), blobs)
        if messages:
            conn.execute(insert(table_of(Message)), messages)
        if records:
            conn.execute(insert(table_of(IdempotencyRecord)), records)
        for index, item in enumerate(batch):
            if outcomes[index] is None and item.key:  # a repeat of a key within this batch
                first = first_use[(item.client_id, item.key)]
                if batch[first].fingerprint != item.fingerprint:
                    outcomes[index] = ApiError(
                        "idempotency_conflict",
                        "Idempotency-Key was already used with a different request body",
                    )
                else:
                    outcomes[index] = outcomes[first]
        return [o if o is not None else RuntimeError("request not handled") for o in outcomes]

    def _registered_only(
        self,
        conn: Connection,
        batch: list[_Pending],
        candidates: list[int],
        outcomes: list[Answer | BaseException | None],
    ) -> list[int]:
        """The candidates whose every recipient is registered; the others get 472 (naming
        their first unregistered number)."""
        missing = first_unregistered(conn, [batch[i].requests for i in candidates])
        kept: list[int] = []
        for index, number in zip(candidates, missing, strict=True):
            if number is None:
                kept.append(index)
            else:
                outcomes[index] = not_registered(number)
        return kept

    def _take_quota(
        self,
        conn: Connection,
        batch: list[_Pending],
        candidates: list[int],
        outcomes: list[Answer | BaseException | None],
        now: datetime,
    ) -> list[int]:
        """Count the candidates' messages against today's quotas (outbound/quota.py), in
        order; a request whose messages do not all fit gets 469 and takes none of them."""
        if not candidates:
            return []
        wants = [
            Want(batch[i].client_id, len(batch[i].requests), batch[i].client_quota)
            for i in candidates
        ]
        refusals = take_quota(conn, self._settings.limits, wants, now)
        accepted = []
        for index, refusal in zip(candidates, refusals, strict=True):
            if refusal is None:
                accepted.append(index)
            else:
                outcomes[index] = refusal
        return accepted

    def _rows(
        self, item: _Pending, now: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The message rows of a request, and its media stored once however many messages
        share it (a batch of one picture to many numbers)."""
        rows: list[dict[str, Any]] = []
        blobs: dict[int, dict[str, Any]] = {}
        for request in item.requests:
            media = request.media
            blob = None
            if media is not None:
                blob = blobs.get(id(media))
                if blob is None:
                    blob = blobs[id(media)] = {
                        "id": str(uuid.uuid4()),
                        "sha256": media.sha256,
                        "size": media.size,
                        "mime_type": media.mime_type,
                        "data": media.data,
                        "created_at": now,
                    }
            row = self._row(item, request, blob["id"] if blob else None, now)
            rows.append(row)
        return rows, list(blobs.values())

    def _row(
        self, item: _Pending, request: SendRequest, media_id: str | None, now: datetime
    ) -> dict[str, Any]:
        media = request.media
        return message_row(
            instance=request.instance,
            kind=request.kind,
            now=now,
            created_at=self._stamps(),
            client_id=item.client_id,
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
            details=dump_details(request_details(request)),
            silent=request.silent,
            link_preview=request.link_preview,
            expires_at=request.expires_at,
            callback_url=request.callback_url,
        )


def _aware(value: datetime | str) -> datetime:
    """Raw SQL on SQLite returns timestamps as text; on PostgreSQL as aware datetimes."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
