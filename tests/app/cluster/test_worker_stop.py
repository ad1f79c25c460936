"""An orderly handover lets the send worker finish the step under way (SendWorker.stop), so
what it sent is recorded rather than left claimed; an idle worker stops at once."""

from __future__ import annotations

import asyncio
import time

from app.cluster.ownership import make_worker
from app.services import Services


async def test_the_step_under_way_finishes_before_the_worker_stops(services: Services) -> None:
    worker = make_worker(services, 1)
    started, finished = asyncio.Event(), []

    async def slow_step() -> float:
        started.set()
        await asyncio.sleep(0.3)  # a batch being sent
        finished.append(True)
        return 0.0

    worker.step = slow_step  # type: ignore[method-assign]
    task = asyncio.create_task(worker.run())
    await started.wait()
    await worker.stop(task, grace_s=5)
    assert finished == [True]
    assert task.done() and not task.cancelled()  # it ended by itself, after the step


async def test_a_step_longer_than_the_grace_is_cut_off(services: Services) -> None:
    worker = make_worker(services, 1)
    started = asyncio.Event()

    async def stuck_step() -> float:
        started.set()
        await asyncio.sleep(60)
        return 0.0

    worker.step = stuck_step  # type: ignore[method-assign]
    task = asyncio.create_task(worker.run())
    await started.wait()
    began = time.monotonic()
    await worker.stop(task, grace_s=0.2)
    assert time.monotonic() - began < 2
    assert not task.done()  # the caller cancels it now, as at a lost lease
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def test_an_idle_worker_is_not_waited_for(services: Services) -> None:
    worker = make_worker(services, 1)
    steps: list[float] = []
    stepped = asyncio.Event()

    async def idle_step() -> float:
        steps.append(time.monotonic())
        stepped.set()
        return 30.0  # nothing to do: it waits for a wake-up

    worker.step = idle_step  # type: ignore[method-assign]
    task = asyncio.create_task(worker.run())
    await stepped.wait()
    began = time.monotonic()
    await worker.stop(task, grace_s=5)
    assert time.monotonic() - began < 0.5
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(steps) == 1
