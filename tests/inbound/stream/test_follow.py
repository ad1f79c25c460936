"""A stream replays from a seq, then follows the shared tail: no gap, no duplicate, bounded.

The tail is driven step by step (`autorun=False`): each `step()` is one read of the log and
one fan-out, so the tests decide exactly when the tail moves relative to a reader.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from app.models import utcnow
from app.services import Services
from inbound.stream.events import EventFilter, StreamEvent, limited_to, read_page
from inbound.stream.follow import Follower, Phase
from inbound.stream.reader import StreamEnded
from inbound.stream.tail import EventTail
from tests.inbound.stream.helpers import commit_events, drain, follower


@pytest.fixture
async def tail(services: Services) -> AsyncIterator[EventTail]:
    found = EventTail(services.database, services.event_feed, poll_s=1, autorun=False)
    yield found
    await found.close()


async def test_a_stream_without_after_starts_at_the_newest_event(
    services: Services, tail: EventTail
) -> None:
    await commit_events(services.database, 3)
    reader = follower(tail, None)
    await reader.start()
    new = await commit_events(services.database, 2)
    await tail.step()
    assert await drain(reader) == new


async def test_a_stream_replays_after_its_seq_then_goes_live(
    services: Services, tail: EventTail
) -> None:
    old = await commit_events(services.database, 5)
    await tail.start()
    reader = follower(tail, old[1])
    await reader.start()
    assert await drain(reader) == old[2:]
    assert reader.phase is Phase.LIVE
    new = await commit_events(services.database, 2)
    await tail.step()
    assert await drain(reader) == new


async def test_a_long_replay_is_read_in_pages_before_subscribing(
    services: Services, tail: EventTail
) -> None:
    seqs = await commit_events(services.database, 1200)
    await tail.start()
    reader = follower(tail, 0, max_buffered=10)
    await reader.start()
    first = await reader.next(0)
    assert first is not None and first.seq == seqs[0]
    # A page is read; the tail buffers nothing for a reader this far behind.
    assert reader.phase is Phase.REPLAY and tail.subscriptions == 0
    assert [first.seq, *await drain(reader)] == seqs


async def test_events_the_tail_reads_while_a_reader_switches_are_neither_lost_nor_doubled(
    services: Services, tail: EventTail
) -> None:
    """The reader's last replay read finds the log at A; before it subscribes, events B are
    committed and the tail reads them (its position passes the reader's); after it
    subscribed, events C are committed and read by the tail too."""
    a = await commit_events(services.database, 3)
    await tail.start()
    b: list[int] = []

    async def read_then_the_tail_moves(after: int, limit: int) -> list[StreamEvent]:
        page = await read_page(services.database, after, limit)
        if not b:  # the first read: between it and the subscription
            b.extend(await commit_events(services.database, 4))
            await tail.step()
        return page

    reader = Follower(tail, follower(tail, 0).wanted, 0, 1000, read=read_then_the_tail_moves)
    await reader.start()
    seen = [(await reader.next(0)).seq]  # type: ignore[union-attr]
    assert reader.phase is Phase.HANDOVER and tail.subscriptions == 1
    c = await commit_events(services.database, 2)
    await tail.step()
    seen += await drain(reader)
    assert seen == a + b + c
    assert reader.phase is Phase.LIVE


async def test_events_both_in_the_handover_read_and_in_the_buffer_are_sent_once(
    services: Services, tail: EventTail
) -> None:
    """Between the reader's replay read and its subscription the tail reads events B; then,
    subscribed, the reader reads the log up to the tail's position, but events C were
    committed and offered to its buffer just before that read, which sees them too."""
    a = await commit_events(services.database, 2)
    await tail.start()
    b: list[int] = []
    c: list[int] = []
    reads = 0

    async def reads_raced_by_the_tail(after: int, limit: int) -> list[StreamEvent]:
        nonlocal reads
        reads += 1
        if reads == 2:  # the hand-over read: C arrives (log and buffer) just before it
            c.extend(await commit_events(services.database, 2))
            await tail.step()
        page = await read_page(services.database, after, limit)
        if reads == 1:  # the replay read: B arrives and the tail reads it before we subscribe
            b.extend(await commit_events(services.database, 3))
            await tail.step()
        return page

    reader = Follower(tail, follower(tail, 0).wanted, 0, 1000, read=reads_raced_by_the_tail)
    await reader.start()
    seen = await drain(reader)
    assert reads == 2 and reader.phase is Phase.LIVE
    assert seen == a + b + c


async def test_a_tail_behind_the_reader_hands_it_nothing_twice(
    services: Services, tail: EventTail
) -> None:
    """The reader's replay read went further than the tail had read when it subscribed: what
    the tail then offers up to there is skipped."""
    a = await commit_events(services.database, 2)
    await tail.start()
    b = await commit_events(services.database, 3)  # not read by the tail yet
    reader = follower(tail, 0)
    await reader.start()
    assert await drain(reader) == a + b
    await tail.step()  # offers b to the buffer
    assert await drain(reader) == []
    c = await commit_events(services.database, 2)
    await tail.step()
    assert await drain(reader) == c


async def test_a_slow_reader_is_dropped_with_the_seq_it_reached_and_its_buffer_bounded(
    services: Services, tail: EventTail
) -> None:
    reader = follower(tail, None, max_buffered=3)
    await reader.start()
    first = await commit_events(services.database, 2)
    await tail.step()
    assert (await reader.next(0)).seq == first[0]  # type: ignore[union-attr]
    await commit_events(services.database, 10)
    await tail.step()
    # Never more than max_buffered held for it; the tail has let it go.
    assert reader.subscription.buffered == 0 and tail.subscriptions == 0
    with pytest.raises(StreamEnded) as ended:
        await reader.next(0)
    assert ended.value.reason == "slow_reader"
    # It resumes after what it was handed: the second event is read again, nothing is lost.
    assert reader.cursor == first[0]
    again = follower(tail, reader.cursor)
    await again.start()
    assert (await drain(again))[:1] == [first[1]]


async def test_a_buffer_holds_at_most_max_buffered_events(
    services: Services, tail: EventTail
) -> None:
    reader = follower(tail, None, max_buffered=3)
    await reader.start()
    await commit_events(services.database, 3)
    await tail.step()
    assert reader.subscription.buffered == 3 and reader.subscription.ended is None
    await commit_events(services.database, 1)
    await tail.step()
    assert reader.subscription.buffered == 0 and reader.subscription.ended == "slow_reader"


async def test_many_readers_get_every_event_in_order_from_one_read_per_step(
    services: Services, tail: EventTail
) -> None:
    readers = [follower(tail, None) for _ in range(12)]
    for reader in readers:
        await reader.start()
    expected = []
    with counting_reads_of_the_log(services) as reads:
        for _ in range(3):
            expected += await commit_events(services.database, 4)
            await tail.step()
        for reader in readers:
            assert await drain(reader) == expected
    assert len(reads) == 3  # one per step, whatever the number of readers


@contextlib.contextmanager
def counting_reads_of_the_log(services: Services) -> Iterator[list[str]]:
    """The SELECTs of the event table run on the database while the block runs."""
    reads: list[str] = []
    engine = services.database.engine.sync_engine

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM event" in statement:
            reads.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        yield reads
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)


async def test_filters_keep_the_types_and_instances_asked_for(
    services: Services, tail: EventTail
) -> None:
    reader = follower(tail, None, types=frozenset({"message.received"}), instances=frozenset({2}))
    await reader.start()
    await commit_events(services.database, 1, type_="message.received", instance=1)
    wanted = await commit_events(services.database, 1, type_="message.received", instance=2)
    await commit_events(services.database, 1, type_="message.sent", instance=2)
    deployment = await commit_events(services.database, 1, type_="message.received", instance=None)
    await tail.step()
    assert await drain(reader) == wanted + deployment


async def test_closing_the_tail_ends_every_stream_with_shutdown(
    services: Services, tail: EventTail
) -> None:
    reader = follower(tail, None)
    await reader.start()
    await tail.close()
    with pytest.raises(StreamEnded) as ended:
        await reader.next(0)
    assert ended.value.reason == "shutdown"


@pytest.mark.parametrize(
    ("key_instances", "asked", "shown", "named"),
    [
        (None, None, None, False),  # every instance, and events of none
        ({1, 2}, None, {1, 2}, False),  # the key's instances, and events of none
        ({1, 2}, 2, {2}, True),
        (None, 3, {3}, True),
        ({1}, 2, set(), True),  # not the key's (the route refuses it before this)
    ],
)
def test_a_key_limited_to_instances_sees_only_theirs(
    key_instances: set[int] | None, asked: int | None, shown: set[int] | None, named: bool
) -> None:
    instances, named_instance = limited_to(key_instances, asked)
    assert instances == (None if shown is None else frozenset(shown))
    assert named_instance is named
    wanted = EventFilter(instances=instances, named_instance=named_instance)
    deployment = StreamEvent(1, "instance.status", "evt_x", None, utcnow(), "{}")
    other = StreamEvent(2, "message.sent", "evt_y", 9, utcnow(), "{}")
    assert wanted.wants(deployment) is not named
    assert wanted.wants(other) is (shown is None)
