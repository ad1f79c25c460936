"""The pruned watermark: the retention job records the highest seq it deleted, and every
reader that resumes from below it is told (GET /api/v1/events, pull queues, the stream)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from app.models import Event, PrunedEvents, table_of
from app.retention.events import old_events
from app.retention.watermark import advance
from app.services import Services
from inbound.stream.events import StreamEvent, read_page
from inbound.stream.follow import Follower
from inbound.stream.tail import EventTail
from tests.app import retention_rows as r
from tests.app.retention_rows import DAY
from tests.app.sse import events, frames
from tests.app.test_event_stream_ws import gateway, texts
from tests.conftest import Clock
from tests.inbound.event_queues.helpers import QUEUES, make_queue
from tests.inbound.stream.helpers import follower

W = table_of(PrunedEvents)
STREAM = "/api/v1/events/stream"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"event_stream": {"heartbeat_s": 30, "max_buffered_events": 50}}


async def watermark(services: Services) -> int | None:
    return await services.database.run(
        lambda conn: conn.execute(select(W.c.through_seq).where(W.c.id == 1)).scalar()
    )


async def pruned_log(services: Services, clock: Clock, held: int | None = None) -> list[int]:
    """Six events 31 days old and two new ones; the job deletes the old ones (but those after
    `held`, a webhook endpoint's cursor, if given); the seqs. (The events of the gateway's
    start, new, are taken away first: the job stops at the first event that is not old.)"""
    now = clock()
    await services.database.run(lambda conn: conn.execute(delete(table_of(Event))))
    seqs = await r.events(services.database, *[now - 31 * DAY] * 6, now, now)
    await r.cursor(services.database, seqs[-1])
    if held is not None:
        await r.endpoint(services.database, seqs[held], now)
    await r.job(services.database, clock).run_once()
    return seqs


async def test_the_job_records_the_highest_seq_it_deleted(services: Services, clock: Clock) -> None:
    seqs = await pruned_log(services, clock, held=2)
    assert await watermark(services) == seqs[2]


async def test_a_deletion_rolled_back_leaves_no_watermark(services: Services, clock: Clock) -> None:
    """The watermark is written in the deletion's transaction: both or neither."""
    now = clock()
    seqs = await r.events(services.database, *[now - 31 * DAY] * 3)
    await r.cursor(services.database, seqs[-1])

    def delete_then_fail(conn: Connection) -> None:
        batch, _ = old_events(conn, now - 30 * DAY, now - 30 * DAY, 0, 10, now)
        assert batch.deleted == {"event": 3}
        raise RuntimeError("the batch fails after its delete")

    with pytest.raises(RuntimeError):
        await services.database.run(delete_then_fail)
    assert (await r.ids(services.database, Event, "seq"), await watermark(services)) == (
        set(seqs),
        None,
    )


async def test_a_log_never_pruned_has_no_watermark(services: Services, clock: Clock) -> None:
    now = clock()
    await r.events(services.database, now, now)
    await r.cursor(services.database, 0)
    await r.job(services.database, clock).run_once()
    assert await watermark(services) is None


async def test_the_watermark_never_moves_back(services: Services, clock: Clock) -> None:
    at: datetime = clock()
    await services.database.run(lambda conn: advance(conn, 9, at))
    await services.database.run(lambda conn: advance(conn, 4, at))
    assert await watermark(services) == 9


async def test_get_events_after_a_pruned_seq_says_pruned_through(
    http: httpx.AsyncClient, services: Services, clock: Clock, api_client: dict[str, str]
) -> None:
    seqs = await pruned_log(services, clock)
    page = (await http.get("/api/v1/events", params={"after": 0}, headers=api_client)).json()
    assert page["pruned_through"] == seqs[5]
    assert [e["seq"] for e in page["data"]] == seqs[6:]


async def test_get_events_after_the_watermark_says_nothing_was_pruned(
    http: httpx.AsyncClient, services: Services, clock: Clock, api_client: dict[str, str]
) -> None:
    seqs = await pruned_log(services, clock)
    after = {"after": seqs[5]}
    page = (await http.get("/api/v1/events", params=after, headers=api_client)).json()
    assert page["pruned_through"] is None
    assert [e["seq"] for e in page["data"]] == seqs[6:]


async def test_a_queue_whose_position_was_pruned_is_told_with_its_first_batch(
    http: httpx.AsyncClient, services: Services, clock: Clock, api_client: dict[str, str]
) -> None:
    seqs = await pruned_log(services, clock)
    await make_queue(http, api_client, start="beginning")
    first = (await http.get(f"{QUEUES}/q/next", params={"limit": 1}, headers=api_client)).json()
    assert (first["pruned_through"], [e["seq"] for e in first["data"]]) == (seqs[5], seqs[6:7])
    # The next batch goes on from the lease: nothing more was skipped.
    second = (await http.get(f"{QUEUES}/q/next", headers=api_client)).json()
    assert (second["pruned_through"], [e["seq"] for e in second["data"]]) == (None, seqs[7:])


async def test_a_queue_that_steps_over_pruned_events_to_nothing_is_told_too(
    http: httpx.AsyncClient, services: Services, clock: Clock, api_client: dict[str, str]
) -> None:
    seqs = await pruned_log(services, clock)
    await make_queue(http, api_client, start="beginning", types=["message.received"])
    batch = (await http.get(f"{QUEUES}/q/next", headers=api_client)).json()
    assert (batch["pruned_through"], batch["data"]) == (seqs[5], [])


async def test_a_queue_at_or_past_the_watermark_is_told_nothing(
    http: httpx.AsyncClient, services: Services, clock: Clock, api_client: dict[str, str]
) -> None:
    seqs = await pruned_log(services, clock)
    await make_queue(http, api_client, after=seqs[5])
    batch = (await http.get(f"{QUEUES}/q/next", headers=api_client)).json()
    assert (batch["pruned_through"], [e["seq"] for e in batch["data"]]) == (None, seqs[6:])


async def test_a_stream_replaying_from_a_pruned_seq_first_sends_pruned(
    http: httpx.AsyncClient, services: Services, clock: Clock, api_client: dict[str, str]
) -> None:
    seqs = await pruned_log(services, clock)
    response = await http.get(STREAM, params={"after": 0, "limit": 2}, headers=api_client)
    sent = [f for f in frames(response.text) if f.comment is None]
    assert (sent[0].id, sent[0].event) == (None, "pruned")
    assert sent[0].json() == {"type": "pruned", "pruned_through": seqs[5]}
    assert [int(f.id or 0) for f in events(response.text)] == seqs[6:]


async def test_a_stream_resuming_past_the_watermark_sends_no_pruned(
    http: httpx.AsyncClient, services: Services, clock: Clock, api_client: dict[str, str]
) -> None:
    seqs = await pruned_log(services, clock)
    headers = {**api_client, "Last-Event-ID": str(seqs[5])}
    response = await http.get(STREAM, params={"limit": 2}, headers=headers)
    assert [f.event for f in frames(response.text) if f.comment is None] == [
        "message.sent",
        "message.sent",
        "end",
    ]


async def test_a_websocket_replaying_from_a_pruned_seq_first_gets_a_pruned_frame(
    services: Services, clock: Clock
) -> None:
    seqs = await pruned_log(services, clock)
    async with gateway(services) as (client, headers):
        url = f"{STREAM}?after=0&limit=2"
        async with aconnect_ws(url, client, headers=headers) as ws:
            got = await texts(ws, 3)
    assert got[0] == {"type": "pruned", "pruned_through": seqs[5]}
    assert [e["seq"] for e in got[1:]] == seqs[6:]


async def test_a_replaying_stream_pruned_under_it_is_told_before_the_next_event(
    services: Services, clock: Clock
) -> None:
    """Retention deletes events between two of the stream's page reads."""
    now = clock()
    seqs = await r.events(services.database, *[now - 31 * DAY] * 4, now)
    tail = EventTail(services.database, services.event_feed, poll_s=60, autorun=False)
    marks = iter([0, seqs[2]])

    async def watermark_then_pruned() -> int:
        return next(marks, seqs[2])

    async def pages_of_one(after: int, limit: int) -> list[StreamEvent]:
        return await read_page(services.database, after, 1)

    reader = Follower(
        tail,
        follower(tail, 0).wanted,
        0,
        1000,
        read=pages_of_one,
        watermark=watermark_then_pruned,
    )
    await reader.start()
    first = await reader.next(0)
    assert (first and first.seq, reader.take_pruned()) == (seqs[0], None)
    await reader.next(0)
    assert reader.take_pruned() == seqs[2]
    await reader.next(0)
    assert reader.take_pruned() is None  # told once
