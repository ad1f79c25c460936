"""The webhook delivery worker: durable, at least once, ordered per conversation.

Rounds (`rounds.py`) run on the SqlRunner one after the other: each records the attempts that
finished, fans out new events and claims what is due. The attempts (`attempts.py`) run outside
any transaction, concurrently: different endpoints and conversations in parallel (at most
PER_ENDPOINT_IN_FLIGHT per endpoint), one conversation of one endpoint at a time and in seq
order.

Every attempt is recorded. The `webhook-id` is the event id, the same on every retry. After a
crash, `recover` makes the `delivering` rows due again (they were in flight in a process that
is gone); a receiver may then get an event twice, always with the same webhook-id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import httpx

from app.db import Database, OutageLog, retry_while_unavailable
from app.errors import DatabaseUnavailable
from app.events import MediaLinker
from app.net.targets import Resolver, system_resolver
from app.queueing import Wakeup
from app.settings import WebhookDeliverySettings
from inbound.webhooks.attempts import Attempter
from inbound.webhooks.callbacks import fan_out_callbacks
from inbound.webhooks.endpoints import SecretBox
from inbound.webhooks.rounds import POLL_S, Attempt, Claim, Rounds

log = logging.getLogger(__name__)

TOPIC = "webhooks"
PER_ENDPOINT_IN_FLIGHT = 16
MAX_FAILED_ROUNDS = 3


class DeliveryWorker:
    def __init__(
        self,
        database: Database,
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
        self._db = database
        self._wakeup = wakeup
        self._clock = clock
        self.rounds = Rounds(
            settings.retry_schedule_s,
            timedelta(seconds=settings.timeout_s + 30),
            rng or random.Random(),
            per_endpoint,
            callbacks=partial(fan_out_callbacks, box=box),
        )
        self._attempter = Attempter(
            settings,
            box,
            clock,
            client,
            media_link=media_link,
            resolve=resolve,
            monotonic=monotonic,
        )
        self._in_flight: dict[str, int] = {}
        self._finished: list[Attempt] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed_rounds = 0
        self._outage = OutageLog(log, "webhook worker")

    async def run(self) -> None:
        """Rounds until cancelled; attempts run as tasks while the next rounds go on. Started
        during a database outage, it waits for the database."""
        await retry_while_unavailable(self.recover, self._outage, POLL_S)
        try:
            while True:
                wait_s = await self._pipelined_round()
                if wait_s > 0:
                    await self._wakeup.wait(TOPIC, min(wait_s, self._wakeup.poll_cap(POLL_S)))
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pipelined_round(self) -> float:
        finished, self._finished = self._finished, []
        try:
            claims, wait_s = await self._db.run(
                partial(
                    self.rounds.unit,
                    attempts=finished,
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
                done = await self.attempt(claim)
            finally:
                count = self._in_flight.get(claim.endpoint_id, 1) - 1
                if count > 0:
                    self._in_flight[claim.endpoint_id] = count
                else:
                    self._in_flight.pop(claim.endpoint_id, None)
            self._finished.append(done)
            self._wakeup.notify(TOPIC, local=True)  # only this worker can record it

        task = asyncio.create_task(attempt(), name=f"webhook-delivery-{claim.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def attempt(self, claim: Claim) -> Attempt:
        """One attempt of a claimed delivery (no transaction open)."""
        return await self._attempter.attempt(claim)

    async def step(self) -> int:
        """One round for tests: fan out, claim, attempt everything claimed, record it all.

        Returns the number of attempts made.
        """
        claims, _ = await self._db.run(
            partial(self.rounds.unit, attempts=[], now=self._clock(), claim=True, in_flight={})
        )
        attempts = await asyncio.gather(*(self.attempt(c) for c in claims))
        await self._db.run(
            partial(self.rounds.unit, attempts=list(attempts), now=self._clock(), claim=False)
        )
        return len(claims)

    async def recover(self) -> int:
        """Make `delivering` rows due again: they were in flight in a process that is gone."""
        return await self._db.run(partial(self.rounds.recover, now=self._clock()))
