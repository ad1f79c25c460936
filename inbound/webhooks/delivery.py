"""The webhook delivery worker: durable, at least once, ordered per conversation.

A round is one unit of work on the SqlRunner: record the outcomes of finished attempts, fan out
new events (fanout.py), and claim what is due (status `delivering`, with a lease). The HTTP
calls run outside any transaction, concurrently: different endpoints and conversations in
parallel (at most PER_ENDPOINT_IN_FLIGHT per endpoint), one conversation of one endpoint at a
time and in seq order: a delivery is claimable only while no earlier delivery of its
(endpoint, conversation) is pending or in flight, so a later event waits while an earlier one
is retried, and other conversations are not held up.

Every attempt is recorded. The `webhook-id` is the event id, the same on every retry. After a
crash, `recover` makes the `delivering` rows due again (they were in flight in a process that
is gone); a receiver may then get an event twice, always with the same webhook-id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import orjson
from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from app.db import OutageLog, SqlRunner, retry_while_unavailable
from app.errors import DatabaseUnavailable
from app.events import MediaLinker, render_stored
from app.models import DeliveryAttempt, UTCDateTime, table_of
from app.queueing import Wakeup
from app.sealing import SealError
from app.settings import WebhookDeliverySettings
from app.timestamps import iso
from inbound.webhooks.endpoints import SecretBox
from inbound.webhooks.fanout import EV, D, E, fan_out
from inbound.webhooks.formats import WHATSMATE, whatsmate_body, whatsmate_test_body
from inbound.webhooks.policy import Verdict, parse_retry_after, retry_delay_s, verdict
from inbound.webhooks.signing import secret_key_bytes, webhook_headers
from inbound.webhooks.targets import Resolver, TargetError, check_target, system_resolver

log = logging.getLogger(__name__)

TOPIC = "webhooks"
PER_ENDPOINT_IN_FLIGHT = 16
MAX_IN_FLIGHT = 256
CLAIM_BATCH = 256
EXCERPT_BYTES = 1024
# Longest wait between rounds: covers events written by other processes.
POLL_S = 0.5
USER_AGENT = "tgw-webhooks/1"
MAX_FAILED_ROUNDS = 3

A = table_of(DeliveryAttempt)
_P = D.alias("p")
_OPEN = ("pending", "delivering")

# An earlier delivery of the same endpoint and conversation is still open: this one waits.
_HELD_BACK = (
    select(_P.c.id)
    .where(
        _P.c.endpoint_id == D.c.endpoint_id,
        _P.c.conversation == D.c.conversation,
        _P.c.status.in_(_OPEN),
        _P.c.event_seq < D.c.event_seq,
    )
    .exists()
)
_CLAIM_COLUMNS = (
    D.c.id,
    D.c.endpoint_id,
    D.c.event_seq,
    D.c.event_id,
    D.c.event_type,
    D.c.payload.label("test_body"),
    D.c.attempts,
    E.c.url,
    E.c.format,
    E.c.token,
    E.c.secret,
    E.c.previous_secret,
    E.c.previous_secret_until,
    EV.c.created_at,
    EV.c.instance,
    EV.c.payload,
)
_CLAIMABLE = and_(
    D.c.status.in_(_OPEN),  # `delivering` past its lease: its process died mid-attempt
    D.c.next_attempt_at <= bindparam("now", type_=UTCDateTime()),
    E.c.enabled.is_(True),
    ~_HELD_BACK,
)
_FROM = D.join(E, E.c.id == D.c.endpoint_id).outerjoin(EV, EV.c.seq == D.c.event_seq)
_SEL_CLAIMABLE = (
    select(*_CLAIM_COLUMNS)
    .select_from(_FROM)
    # Endpoints with all their slots busy are left out, so that one endpoint's backlog does
    # not fill the batch and keep the others waiting.
    .where(_CLAIMABLE, D.c.endpoint_id.not_in(bindparam("full", expanding=True)))
    .order_by(D.c.id)
    .limit(bindparam("limit"))
)
_SEL_NEXT_DUE = (
    select(func.min(D.c.next_attempt_at))
    .select_from(D.join(E, E.c.id == D.c.endpoint_id))
    .where(
        D.c.status.in_(_OPEN),
        D.c.next_attempt_at > bindparam("now", type_=UTCDateTime()),
        E.c.enabled.is_(True),
        ~_HELD_BACK,
    )
)
_CLAIM = (
    update(D)
    .where(D.c.id == bindparam("b_id"))
    .values(
        status="delivering",
        attempts=D.c.attempts + 1,
        next_attempt_at=bindparam("b_lease", type_=UTCDateTime()),
    )
)
_INSERT_ATTEMPT = insert(A)
_DELIVERED = (
    update(D)
    .where(D.c.id == bindparam("b_id"))
    .values(
        status="delivered",
        delivered_at=bindparam("b_at", type_=UTCDateTime()),
        last_error=None,
        last_status_code=bindparam("b_code"),
    )
)
_FAILED = (
    update(D)
    .where(D.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_at", type_=UTCDateTime()),
        last_error=bindparam("b_error"),
        last_status_code=bindparam("b_code"),
    )
)
_DISABLE = (
    update(E)
    .where(E.c.id == bindparam("b_id"), E.c.enabled.is_(True))
    .values(
        enabled=False,
        disabled_reason=bindparam("b_reason"),
        disabled_at=bindparam("b_at", type_=UTCDateTime()),
        updated_at=bindparam("b_at", type_=UTCDateTime()),
    )
)
_RECOVER = (
    update(D)
    .where(D.c.status == "delivering")
    .values(status="pending", next_attempt_at=bindparam("now", type_=UTCDateTime()))
)


class TokenError(Exception):
    """The endpoint's sealed token does not open (its message never holds the token)."""


@dataclass(frozen=True)
class Claim:
    """A delivery claimed for one attempt, with what the attempt needs."""

    row: Any  # a Row of _CLAIM_COLUMNS

    @property
    def id(self) -> int:
        return int(self.row.id)

    @property
    def endpoint_id(self) -> str:
        return str(self.row.endpoint_id)

    @property
    def attempts(self) -> int:
        return int(self.row.attempts) + 1  # counting this one


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None
    retry_after_s: float | None = None


class DeliveryWorker:
    def __init__(
        self,
        sql: SqlRunner,
        settings: WebhookDeliverySettings,
        box: SecretBox,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        client: httpx.AsyncClient,
        *,
        media_link: MediaLinker | None = None,
        resolve: Resolver = system_resolver,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        per_endpoint: int = PER_ENDPOINT_IN_FLIGHT,
    ) -> None:
        self._sql = sql
        self._settings = settings
        self._box = box
        self._wakeup = wakeup
        self._clock = clock
        self._client = client
        self._media_link = media_link
        self._resolve = resolve
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._per_endpoint = per_endpoint
        self._lease = timedelta(seconds=settings.timeout_s + 30)
        self._keys: dict[tuple[str, bytes], bytes] = {}
        self._in_flight: dict[str, int] = {}
        self._finished: list[Outcome] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed_rounds = 0
        self._outage = OutageLog(log, "webhook worker")

    # --- driving ---

    async def run(self) -> None:
        """Rounds until cancelled; attempts run as tasks while the next rounds go on. Started
        during a database outage, it waits for the database."""
        await retry_while_unavailable(self.recover, self._outage, POLL_S)
        try:
            while True:
                wait_s = await self._pipelined_round()
                if wait_s > 0:
                    await self._wakeup.wait(TOPIC, min(wait_s, POLL_S))
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pipelined_round(self) -> float:
        finished, self._finished = self._finished, []
        try:
            claims, wait_s = await self._sql.run(
                partial(
                    self._unit,
                    outcomes=finished,
                    now=self._clock(),
                    claim=True,
                    in_flight=dict(self._in_flight),
                )
            )
        except asyncio.CancelledError:
            raise
        except DatabaseUnavailable as exc:
            # Not this round's fault: the outcomes wait (in memory) for the database, however
            # long it is away; attempts go on meanwhile only for what was already claimed.
            self._outage.failed(exc)
            self._finished = finished + self._finished
            return POLL_S
        except Exception:
            self._failed_rounds += 1
            if self._failed_rounds < MAX_FAILED_ROUNDS:
                log.exception("webhook worker: a round failed; retrying")
                self._finished = finished + self._finished  # record them next time
            else:
                # Outcomes that cannot be recorded must not block every later round: their rows
                # stay `delivering` and go again when their lease ends (at least once).
                log.exception(
                    "webhook worker: rounds keep failing; %d outcomes dropped", len(finished)
                )
                self._failed_rounds = 0
            return POLL_S
        self._failed_rounds = 0
        self._outage.ok()
        for claim in claims:
            self._start(claim)
        return wait_s

    def _start(self, claim: Claim) -> None:
        self._in_flight[claim.endpoint_id] = self._in_flight.get(claim.endpoint_id, 0) + 1

        async def attempt() -> None:
            try:
                outcome = await self.attempt(claim)
            finally:
                count = self._in_flight.get(claim.endpoint_id, 1) - 1
                if count > 0:
                    self._in_flight[claim.endpoint_id] = count
                else:
                    self._in_flight.pop(claim.endpoint_id, None)
            self._finished.append(outcome)
            self._wakeup.notify(TOPIC)

        task = asyncio.create_task(attempt(), name=f"webhook-delivery-{claim.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def step(self) -> int:
        """One round for tests: fan out, claim, attempt everything claimed, record it all.

        Returns the number of attempts made.
        """
        claims, _ = await self._sql.run(
            partial(self._unit, outcomes=[], now=self._clock(), claim=True, in_flight={})
        )
        outcomes = await asyncio.gather(*(self.attempt(c) for c in claims))
        await self._sql.run(partial(self._unit, outcomes=outcomes, now=self._clock(), claim=False))
        return len(claims)

    async def recover(self) -> int:
        """Make `delivering` rows due again: they were in flight in a process that is gone."""
        return await self._sql.run(partial(self._recover, now=self._clock()))

    def _recover(self, conn: Connection, now: datetime) -> int:
        count: int = conn.execute(_RECOVER, {"now": now}).rowcount
        if count:
            log.info("webhook worker: %d interrupted deliveries are due again", count)
        return count

    # --- the unit of work (runs on the SqlRunner) ---

    def _unit(
        self,
        conn: Connection,
        outcomes: list[Outcome],
        now: datetime,
        claim: bool,
        in_flight: dict[str, int] | None = None,
    ) -> tuple[list[Claim], float]:
        """`in_flight`: a copy of the attempts running per endpoint (this runs on the SQLite
        writer thread, while the event loop changes the live count)."""
        self._record(conn, outcomes, now)
        if not claim:
            return [], 0.0
        _, more = fan_out(conn, now)
        claims = self._claim(conn, now, in_flight or {})
        if claims or more:
            return claims, 0.0
        return claims, self._next_due_in(conn, now)

    def _claim(self, conn: Connection, now: datetime, in_flight: dict[str, int]) -> list[Claim]:
        room = MAX_IN_FLIGHT - sum(in_flight.values())
        if room <= 0:
            return []
        query = _SEL_CLAIMABLE
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=D)
        full = [e for e, n in in_flight.items() if n >= self._per_endpoint]
        rows = conn.execute(query, {"now": now, "limit": CLAIM_BATCH, "full": full}).all()
        taken: dict[str, int] = {}
        chosen: list[Claim] = []
        for row in rows:
            busy = in_flight.get(row.endpoint_id, 0) + taken.get(row.endpoint_id, 0)
            if busy >= self._per_endpoint:
                continue
            taken[row.endpoint_id] = taken.get(row.endpoint_id, 0) + 1
            chosen.append(Claim(row))
            if len(chosen) >= room:
                break
        if chosen:
            lease = now + self._lease
            conn.execute(_CLAIM, [{"b_id": c.id, "b_lease": lease} for c in chosen])
        return chosen

    def _next_due_in(self, conn: Connection, now: datetime) -> float:
        nxt = conn.execute(_SEL_NEXT_DUE, {"now": now}).scalar()
        if nxt is None:
            return POLL_S
        nxt = UTCDateTime().process_result_value(nxt, conn.dialect)
        assert nxt is not None
        return max(0.0, (nxt - now).total_seconds())

    def _record(self, conn: Connection, outcomes: list[Outcome], now: datetime) -> None:
        if not outcomes:
            return
        # An endpoint deleted while its delivery was in flight took the delivery with it.
        ids = [o.claim.id for o in outcomes]
        alive = set(conn.execute(select(D.c.id).where(D.c.id.in_(ids))).scalars())
        outcomes = [o for o in outcomes if o.claim.id in alive]
        if not outcomes:
            return
        attempts: list[dict[str, Any]] = []
        delivered: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        disabled: list[dict[str, Any]] = []
        schedule = self._settings.retry_schedule_s
        for o in outcomes:
            attempts.append(
                {
                    "delivery_id": o.claim.id,
                    "attempted_at": o.attempted_at,
                    "status_code": o.status_code,
                    "latency_ms": o.latency_ms,
                    "response_excerpt": o.excerpt,
                    "error": o.error,
                }
            )
            result = verdict(o.status_code) if o.error is None else Verdict.RETRY
            if result is Verdict.DELIVERED:
                delivered.append({"b_id": o.claim.id, "b_at": now, "b_code": o.status_code})
                continue
            error = o.error or f"HTTP {o.status_code}"
            if result is Verdict.GONE:
                # The receiver asked for no more: the endpoint stops, and this delivery waits
                # (pending) with the rest in case the endpoint is enabled again.
                reason = f"the receiver answered 410 Gone at {iso(now)}"
                disabled.append({"b_id": o.claim.endpoint_id, "b_reason": reason, "b_at": now})
                status, at = "pending", now
                log.warning("webhook endpoint %s disabled: %s", o.claim.endpoint_id, reason)
            else:
                delay = retry_delay_s(schedule, o.claim.attempts, self._rng, o.retry_after_s)
                if delay is None:
                    status, at = "dead", now
                else:
                    status, at = "pending", now + timedelta(seconds=delay)
            failed.append(
                {
                    "b_id": o.claim.id,
                    "b_status": status,
                    "b_at": at,
                    "b_error": error[:1000],
                    "b_code": o.status_code,
                }
            )
        conn.execute(_INSERT_ATTEMPT, attempts)
        if delivered:
            conn.execute(_DELIVERED, delivered)
        if failed:
            conn.execute(_FAILED, failed)
        if disabled:
            conn.execute(_DISABLE, disabled)

    # --- one attempt (no transaction open) ---

    async def attempt(self, claim: Claim) -> Outcome:
        now = self._clock()
        started = self._monotonic()
        status_code: int | None = None
        excerpt: str | None = None
        error: str | None = None
        retry_after: float | None = None
        timeout_s = self._settings.timeout_s
        try:
            url = await check_target(
                claim.row.url,
                allow_private=self._settings.allow_private_targets,
                resolve=self._resolve,
            )
            body = self._body(claim)
            headers = webhook_headers(
                self._signing_keys(claim, now), claim.row.event_id, int(now.timestamp()), body
            )
            headers["content-type"] = "application/json"
            headers["user-agent"] = USER_AGENT
            async with asyncio.timeout(timeout_s):
                async with self._client.stream(
                    "POST",
                    url,
                    content=body,
                    headers=headers,
                    follow_redirects=False,  # a 3xx is a failure, never chased
                    timeout=timeout_s,
                ) as response:
                    status_code = response.status_code
                    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
                    excerpt = await _excerpt(response)
        except TargetError as exc:
            error = f"target refused: {exc}"
        except TokenError:
            error = "the endpoint's token does not open: was secret_key changed? set it again"
        except SealError:
            error = "the endpoint's secret does not open: was secret_key changed? rotate it"
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within timeout_s ({timeout_s:g} s)"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a bug must not lose the delivery: it is retried
            log.exception("webhook worker: unexpected error delivering %s", claim.id)
            error = f"internal error: {exc!r}"
        latency_ms = round((self._monotonic() - started) * 1000)
        return Outcome(
            claim=claim,
            attempted_at=now,
            status_code=status_code if error is None else None,
            latency_ms=latency_ms,
            excerpt=excerpt,
            error=_clean(error) if error else None,
            retry_after_s=retry_after,
        )

    def _body(self, claim: Claim) -> bytes:
        row = claim.row
        whatsmate = row.format == WHATSMATE
        if row.test_body is not None:
            if whatsmate:
                # Rendered now, not stored with the delivery: the token stays sealed at rest.
                return orjson.dumps(whatsmate_test_body(self._token(row)))
            return str(row.test_body).encode()
        if row.payload is None:
            raise RuntimeError(f"event {row.event_seq} of delivery {row.id} is missing")
        if whatsmate:
            return orjson.dumps(
                whatsmate_body(instance=row.instance, payload=row.payload, token=self._token(row))
            )
        rendered = render_stored(
            type_=row.event_type,
            id_=row.event_id,
            seq=row.event_seq,
            created_at=row.created_at,
            instance=row.instance,
            payload=row.payload,
            media_link=self._media_link,
        )
        return orjson.dumps(rendered)

    def _token(self, row: Any) -> str | None:
        if row.token is None:
            return None
        try:
            return self._box.open_token(row.endpoint_id, row.token)
        except SealError as exc:
            raise TokenError from exc

    def _signing_keys(self, claim: Claim, now: datetime) -> list[bytes]:
        row = claim.row
        keys = [self._key(row.endpoint_id, row.secret)]
        until = row.previous_secret_until
        if row.previous_secret is not None and until is not None and until > now:
            # Rotated away from a secret that no longer opens: the new one signs alone.
            with contextlib.suppress(SealError):
                keys.append(self._key(row.endpoint_id, row.previous_secret))
        return keys

    def _key(self, endpoint_id: str, sealed: bytes) -> bytes:
        cached = self._keys.get((endpoint_id, sealed))
        if cached is None:
            cached = secret_key_bytes(self._box.open(endpoint_id, sealed))
            self._keys[(endpoint_id, sealed)] = cached
        return cached


async def _excerpt(response: httpx.Response) -> str | None:
    """The first 1 KiB of the body; the rest is not read (a receiver cannot make us buffer)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_BYTES:
            break
    data = b"".join(chunks)[:EXCERPT_BYTES]
    return _clean(data.decode("utf-8", "replace")) if data else None


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL.
    return text.replace("\x00", "\ufffd")
