"""Pull queues under concurrency: a long poll woken by a commit, two readers of one queue
that never get the same events (a forced interleaving, and two database connections), and a
key limited to some instances."""

from __future__ import annotations

import asyncio

import httpx

from app.db import Database, open_database
from app.services import Services
from inbound.event_queues.cursors import QueueSettings, create_queue
from inbound.event_queues.leases import next_events, take
from tests.conftest import say
from tests.inbound.event_queues.helpers import emit

CLIENT = "ops@example.com"
EVERYTHING = QueueSettings(None, None, 30)


async def queue(services: Services, name: str = "q", after: int | None = None) -> None:
    await create_queue(services.database, CLIENT, name, EVERYTHING, after, services.clock())


async def test_a_long_poll_is_woken_by_a_commit(
    http: httpx.AsyncClient, services: Services
) -> None:
    await queue(services)
    waiting = asyncio.Event()
    poll = asyncio.create_task(
        next_events(
            services.database,
            services.event_feed,
            services.clock,
            CLIENT,
            "q",
            None,
            limit=10,
            wait_s=60,
            recheck_s=3600,  # only the event feed can wake it within the test's timeout
            idle=waiting.set,
        )
    )
    await waiting.wait()
    await say(http, "34612345678", "Hi")  # the sandbox commits the message.received event
    batch = await asyncio.wait_for(poll, timeout=15)
    assert {e.type for e in batch.events} <= {"recipient.registered", "message.received"}
    assert batch.events


async def test_two_nexts_that_read_the_same_position_hand_out_different_events(
    services: Services,
) -> None:
    await queue(services, after=0)
    seqs = [await emit(services) for _ in range(4)]
    second: list[list[int | None]] = []

    async def the_other_reader_first() -> None:
        # The first reader has read the position; the second reads the same one and commits
        # (once: the first reader's retry reads again and writes without interruption).
        if second:
            return
        batch = await take(services.database, CLIENT, "q", None, limit=2, now=services.clock())
        second.append([e.seq for e in batch.events])

    first = await take(
        services.database,
        CLIENT,
        "q",
        None,
        limit=2,
        now=services.clock(),
        before_write=the_other_reader_first,
    )
    assert second == [seqs[:2]]
    assert [e.seq for e in first.events] == seqs[2:]


async def test_readers_on_two_connections_hand_out_every_event_once(
    services: Services, schema: str
) -> None:
    await queue(services, after=0)
    seqs = [await emit(services) for _ in range(30)]
    other = open_database(schema)
    try:
        databases = [services.database, other] * 3
        got: list[int] = []

        async def reader(database: Database) -> None:
            while True:
                batch = await take(database, CLIENT, "q", None, limit=2, now=services.clock())
                if not batch.events:
                    return
                got.extend(e.seq or 0 for e in batch.events)

        await asyncio.gather(*(reader(d) for d in databases))
    finally:
        await other.close()
    assert sorted(got) == seqs and len(got) == len(set(got))


async def test_a_key_limited_to_instances_gets_only_their_events(services: Services) -> None:
    await queue(services, after=0)
    ones = [await emit(services, instance=1), await emit(services, instance=1)]
    await emit(services, instance=2)
    batch = await take(
        services.database, CLIENT, "q", frozenset({1}), limit=10, now=services.clock()
    )
    assert [e.seq for e in batch.events] == ones


async def test_a_long_poll_whose_caller_left_leases_nothing(services: Services) -> None:
    await queue(services)
    waiting = asyncio.Event()

    async def left() -> bool:
        return True

    poll = asyncio.create_task(
        next_events(
            services.database,
            services.event_feed,
            services.clock,
            CLIENT,
            "q",
            None,
            limit=10,
            wait_s=60,
            idle=waiting.set,
            gone=left,
        )
    )
    await waiting.wait()
    seq = await emit(services)
    assert (await asyncio.wait_for(poll, timeout=15)).events == []
    batch = await take(services.database, CLIENT, "q", None, limit=10, now=services.clock())
    assert [e.seq for e in batch.events] == [seq]
