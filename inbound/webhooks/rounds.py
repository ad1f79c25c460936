"""A delivery round, the webhook worker's unit of work on the SqlRunner: record the finished
attempts, fan out new events (fanout.py), and claim what is due (status `delivering`, with a
lease), all in one transaction.

A delivery is claimable only while no earlier delivery of its (endpoint, conversation) is
pending or in flight: a later event waits while an earlier one is retried, and other
conversations are not held up. At most `per_endpoint` attempts per endpoint are in flight.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, assert_never

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from app.models import DeliveryAttempt, UTCDateTime, table_of
from app.vocabulary import DeliveryStatus
from inbound.webhooks.alerting import round_outcomes
from inbound.webhooks.fanout import EV, D, E, fan_out
from inbound.webhooks.policy import Dead, Delivered, Disable, RetryAt, decide

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 256
CLAIM_BATCH = 256
# Longest wait between rounds: covers events written by other processes.
POLL_S = 0.5

A = table_of(DeliveryAttempt)
# A fan-out step of a round: (delivery rows created, more events waiting).
FanOut = Callable[[Connection, datetime], tuple[int, bool]]
_P = D.alias("p")
_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)

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
    E.c.source,
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
        status=DeliveryStatus.DELIVERING,
        attempts=D.c.attempts + 1,
        next_attempt_at=bindparam("b_lease", type_=UTCDateTime()),
    )
)
_INSERT_ATTEMPT = insert(A)
_DELIVERED = (
    update(D)
    .where(D.c.id == bindparam("b_id"))
    .values(
        status=DeliveryStatus.DELIVERED,
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
    .where(D.c.status == DeliveryStatus.DELIVERING)
    .values(status=DeliveryStatus.PENDING, next_attempt_at=bindparam("now", type_=UTCDateTime()))
)


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
class Attempt:
    """A finished attempt: what the receiver answered, or why there was no usable answer."""

    claim: Claim
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None
    retry_after_s: float | None = None


class Rounds:
    """The units of work of the delivery worker (they run on the SqlRunner's connection)."""

    def __init__(
        self,
        retry_schedule_s: list[float],
        claim_lease: timedelta,
        rng: random.Random,
        per_endpoint: int,
        callbacks: FanOut | None = None,
    ) -> None:
        self._callbacks = callbacks  # the per-message callbacks' fan-out (callbacks.py)
        self._schedule = retry_schedule_s
        self._lease = claim_lease
        self._rng = rng
        self._per_endpoint = per_endpoint

    def unit(
        self,
        conn: Connection,
        attempts: list[Attempt],
        now: datetime,
        claim: bool,
        in_flight: dict[str, int] | None = None,
    ) -> tuple[list[Claim], float]:
        """Record `attempts`, then (with `claim`) fan out and claim: the claims, and how long
        to wait before the next round if there is nothing to do now.

        `in_flight`: a copy of the attempts running per endpoint (this runs on the SQLite
        writer thread, while the event loop changes the live count)."""
        self._record(conn, attempts, now)
        if not claim:
            return [], 0.0
        _, more = fan_out(conn, now)
        if self._callbacks is not None:
            _, more_callbacks = self._callbacks(conn, now)
            more = more or more_callbacks
        claims = self._claim(conn, now, in_flight or {})
        if claims or more:
            return claims, 0.0
        return claims, self._next_due_in(conn, now)

    def recover(self, conn: Connection, now: datetime) -> int:
        """Make `delivering` rows due again: they were in flight in a process that is gone."""
        count: int = conn.execute(_RECOVER, {"now": now}).rowcount
        if count:
            log.info("webhook worker: %d interrupted deliveries are due again", count)
        return count

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
            return math.inf  # nothing pending: a wake-up, or the worker's poll cap
        nxt = UTCDateTime().process_result_value(nxt, conn.dialect)
        assert nxt is not None
        return max(0.0, (nxt - now).total_seconds())

    def _record(self, conn: Connection, attempts: list[Attempt], now: datetime) -> None:
        if not attempts:
            return
        # An endpoint deleted while its delivery was in flight took the delivery with it.
        ids = [a.claim.id for a in attempts]
        alive = set(conn.execute(select(D.c.id).where(D.c.id.in_(ids))).scalars())
        attempts = [a for a in attempts if a.claim.id in alive]
        if not attempts:
            return
        logged: list[dict[str, Any]] = []
        delivered: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        disabled: list[dict[str, Any]] = []
        went: list[Claim] = []  # for the alerts (alerting.py)
        dead: list[tuple[Claim, str]] = []
        gone: list[tuple[Claim, str]] = []
        for a in attempts:
            logged.append(
                {
                    "delivery_id": a.claim.id,
                    "attempted_at": a.attempted_at,
                    "status_code": a.status_code,
                    "latency_ms": a.latency_ms,
                    "response_excerpt": a.excerpt,
                    "error": a.error,
                }
            )
            decision = decide(
                status_code=a.status_code,
                error=a.error,
                attempts=a.claim.attempts,
                retry_after_s=a.retry_after_s,
                schedule_s=self._schedule,
                now=now,
                rng=self._rng,
            )
            match decision:
                case Delivered(status_code=code):
                    delivered.append({"b_id": a.claim.id, "b_at": now, "b_code": code})
                    went.append(a.claim)
                    continue
                case Disable(reason=reason, error=error):
                    disabled.append({"b_id": a.claim.endpoint_id, "b_reason": reason, "b_at": now})
                    gone.append((a.claim, reason))
                    status, at = DeliveryStatus.PENDING, now
                    log.warning("webhook endpoint %s disabled: %s", a.claim.endpoint_id, reason)
                case Dead(error=error):
                    status, at = DeliveryStatus.DEAD, now
                    dead.append((a.claim, error))
                case RetryAt(at=at, error=error):
                    status = DeliveryStatus.PENDING
                case _:
                    assert_never(decision)
            failed.append(
                {
                    "b_id": a.claim.id,
                    "b_status": status,
                    "b_at": at,
                    "b_error": error[:1000],
                    "b_code": a.status_code,
                }
            )
        conn.execute(_INSERT_ATTEMPT, logged)
        if delivered:
            conn.execute(_DELIVERED, delivered)
        if failed:
            conn.execute(_FAILED, failed)
        if disabled:
            conn.execute(_DISABLE, disabled)
        round_outcomes(conn, now, dead=dead, delivered=went, disabled=gone)
