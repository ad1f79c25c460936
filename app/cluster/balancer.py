"""Each process holds at most its fair share of the instances (app/cluster/share.py).

The balancer renews this process's row in the registry every `every_s`, counts the live
processes that hold sessions, and derives the share. An instance's owner task
(app/cluster/ownership.py) asks `claim` before it tries the instance's lease, so the process
takes no more than its share; when the share falls (a process joined), the balancer asks the
owners of the excess instances to hand them over (`handover_asked`): each closes its session
and releases its lease, and a process below its share takes it at its next look.

The lease (app/lease.py) keeps every instance to one holder whatever the balancer believes:
the balancer only decides who *tries*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from app.cluster.registry import LiveProcess, ProcessRegistry
from app.cluster.share import fair_share, to_give_up

log = logging.getLogger(__name__)


class Balancer:
    def __init__(
        self,
        registry: ProcessRegistry,
        instances: Iterable[int],
        *,
        every_s: float,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.registry = registry
        self.instances = sorted(instances)
        self.every_s = every_s
        self._sleep = sleep
        # Until the registry answers, every instance: alone, or unsure, the leases decide.
        self.share = len(self.instances)
        self.live: list[LiveProcess] = []
        # Instances this process holds, or is taking (lease asked for, session opening).
        self.owned: set[int] = set()
        self._handover = {number: asyncio.Event() for number in self.instances}
        self._forgot = False

    # -- the owner tasks' side --

    def claim(self, number: int) -> bool:
        """May this process try to take `number`? If so it counts as owned until `drop`.
        (No await between the check and the count: two owner tasks cannot both pass.)"""
        if number in self.owned:
            return True
        if len(self.owned) >= self.share:
            return False
        self.owned.add(number)
        return True

    def drop(self, number: int) -> None:
        """`number` is not held (the lease was not taken, was lost, or was handed over)."""
        self.owned.discard(number)
        self._handover[number].clear()

    def handover_asked(self, number: int) -> asyncio.Event:
        return self._handover[number]

    # -- the balancer's own round --

    async def beat(self) -> None:
        """Renew this process's registration, recompute the share, hand the excess over."""
        self.live = await self.registry.heartbeat()
        if not self._forgot:  # once per process start is often enough
            await self.registry.forget_the_long_dead()
            self._forgot = True
        holders = [p for p in self.live if p.holds_sessions]
        share = fair_share(
            len(self.instances),
            [p.max_sessions for p in holders] or [self.registry.me.max_sessions],
            self.registry.me.max_sessions,
        )
        if share != self.share:
            log.info(
                "cluster: %d live processes hold sessions; this one's share is now %d of %d"
                " instances",
                len(holders),
                share,
                len(self.instances),
            )
        self.share = share
        self.rebalance()

    def rebalance(self) -> list[int]:
        """Ask the owners of the instances over the share to hand them over."""
        leaving = {n for n in self.owned if self._handover[n].is_set()}
        staying = self.owned - leaving
        excess = to_give_up(staying, self.share)
        for number in excess:
            log.info("cluster: handing instance %s over (over this process's share)", number)
            self._handover[number].set()
        return excess

    async def run(self) -> None:
        """Beat until cancelled; then leave the registry (a clean stop)."""
        failing = False
        try:
            while True:
                try:
                    await self.beat()
                except Exception as exc:  # the database is away: the leases hold the line
                    if not failing:
                        log.warning("cluster: could not renew this process's row: %r", exc)
                    failing = True
                else:
                    failing = False
                await self._sleep(self.every_s)
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.every_s):
                    await self.registry.leave()
