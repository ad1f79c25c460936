"""Wake-ups across processes (app/wakeups.py): two `Services` on one PostgreSQL database stand
for two processes; on SQLite the wake-ups stay in-process, as before."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.cluster.ownership import make_worker
from app.db import EVENTS_WRITTEN, PG_CONNECT_TIMEOUT_S
from app.main import run_delivery_worker
from app.services import Services, build_services
from app.wakeups import CHANNEL, WakeupRelay, channel_and_connect_args
from inbound.webhooks.delivery import TOPIC as WEBHOOK_TOPIC
from tests.conftest import ADMIN_TOKEN, Clock, make_settings, say
from tests.waiting import eventually

FALLBACK_S = 30.0
# A wake-up from another process arrives well before this (and long before the fallback).
PROMPT_S = 0.5
ANA = "34612345678"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"database": {"wakeup_fallback_s": FALLBACK_S}}


def postgres_only(services: Services) -> None:
    if services.database.is_sqlite:
        pytest.skip("wake-ups across processes need PostgreSQL (SQLite: one process writes)")


@pytest.fixture
async def other(schema: str, clock: Clock, services: Services) -> AsyncIterator[Services]:
    """A second "process" on the same database (Services of its own, as `tgw serve` builds)."""
    postgres_only(services)
    settings = make_settings(schema, database={"wakeup_fallback_s": FALLBACK_S})
    svc = build_services(settings, ADMIN_TOKEN, clock=clock, run_workers=False)
    yield svc
    await svc.close()


def relay(services: Services) -> WakeupRelay:
    assert services.wakeup_relay is not None
    return services.wakeup_relay


async def listening(*processes: Services) -> None:
    for svc in processes:
        relay(svc).start()
    for svc in processes:
        await asyncio.wait_for(relay(svc).connected.wait(), 15)


async def within(awaitable: Awaitable[bool], limit_s: float = PROMPT_S) -> float:
    """How long `awaitable` took to say True (fails past `limit_s`)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await asyncio.wait_for(awaitable, limit_s) is True
    return loop.time() - start


async def send(http: httpx.AsyncClient, headers: dict[str, str], text: str) -> None:
    response = await http.post("/api/v1/messages", json={"to": ANA, "text": text}, headers=headers)
    assert response.status_code == 202, response.text


async def settled(sender: Services, receiver: Services) -> None:
    """Every notification `sender` sent so far has reached `receiver` (they arrive in commit
    order, so a later one is a barrier), and nothing is left set."""
    sender.wakeup.notify("barrier")
    await within(receiver.wakeup.wait("barrier", FALLBACK_S), 5)
    for topic in ("send:1", WEBHOOK_TOPIC):
        await receiver.wakeup.wait(topic, 0)


async def test_a_message_accepted_in_one_process_wakes_the_send_worker_waiting_in_another(
    services: Services, other: Services, http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await listening(services, other)
    await say(http, ANA, "Hi")  # registered (its reply is queued, and wakes the worker)
    await settled(services, other)
    # While notifications arrive, the worker's wait is the slow fallback, not the 1 s poll.
    assert other.wakeup.poll_cap(1.0) == FALLBACK_S
    waiting = asyncio.create_task(other.wakeup.wait("send:1", other.wakeup.poll_cap(1.0)))
    await asyncio.sleep(0)
    assert not waiting.done()
    await send(http, api_client, "hello")
    await within(waiting)


async def test_events_committed_in_one_process_wake_the_event_feed_and_delivery_worker_of_another(
    services: Services, other: Services
) -> None:
    await listening(services, other)
    feed = asyncio.create_task(other.event_feed.wait(other.event_feed.generation, FALLBACK_S))
    delivery = asyncio.create_task(other.wakeup.wait(WEBHOOK_TOPIC, FALLBACK_S))
    await asyncio.sleep(0)
    assert not feed.done() and not delivery.done()
    async with services.database.write() as session:
        await session.execute(text("SELECT 1"))
        session.info[EVENTS_WRITTEN] = True  # as the code that appends events says
    await within(feed)
    await within(delivery)


async def test_a_process_skips_its_own_notifications(services: Services, other: Services) -> None:
    await listening(services, other)
    services.wakeup.notify("send:1")
    assert await services.wakeup.wait("send:1", 0)  # woken here at once, by the notify itself
    await within(other.wakeup.wait("send:1", FALLBACK_S))
    # A barrier: a later notification of the other process reaches this one after our own
    # (PostgreSQL delivers in commit order), so by then our own came back, or never will.
    other.wakeup.notify("probe")
    await within(services.wakeup.wait("probe", FALLBACK_S))
    assert services.metrics.wakeups_received._value.get() == 1  # the probe only
    assert not await services.wakeup.wait("send:1", 0)  # not woken a second time
    assert services.metrics.wakeups_sent._value.get() == 1
    assert other.metrics.wakeups_received._value.get() == 1


async def test_a_killed_listen_connection_is_reopened_and_every_topic_wakes_once(
    services: Services, other: Services
) -> None:
    await listening(services, other)
    gate = asyncio.Event()
    real_connect = relay(other).connect

    async def held_connect() -> Any:
        await gate.wait()
        return await real_connect()

    relay(other).connect = held_connect
    before = asyncio.create_task(other.wakeup.wait("send:1", FALLBACK_S))
    await asyncio.sleep(0)
    async with services.database.write() as session:
        killed = await session.scalar(
            text("SELECT pg_terminate_backend(:pid)"), {"pid": relay(other).pid}
        )
    assert killed is True
    # Disconnected: the waiting worker looks now and polls fast until the relay is back.
    await within(before, 5)
    assert other.wakeup.poll_cap(1.0) == 1.0
    assert other.metrics.wakeup_listener_connected._value.get() == 0
    after = asyncio.create_task(other.wakeup.wait("send:1", FALLBACK_S))
    await asyncio.sleep(0.1)
    assert not after.done()  # nothing wakes it while the relay is away
    gate.set()
    # Reconnected: every topic wakes once (what was notified meanwhile was lost).
    await within(after, 5)
    assert relay(other).connections == 2
    assert other.wakeup.poll_cap(1.0) == FALLBACK_S
    assert other.metrics.wakeup_listener_connected._value.get() == 1
    services.wakeup.notify("send:1")
    await within(other.wakeup.wait("send:1", FALLBACK_S))


async def test_topics_published_while_the_relay_is_away_go_out_once_it_is_back(
    services: Services, other: Services
) -> None:
    await listening(services, other)
    gate = asyncio.Event()
    real_connect = relay(services).connect

    async def held_connect() -> Any:
        await gate.wait()
        return await real_connect()

    relay(services).connect = held_connect
    async with other.database.write() as session:
        await session.execute(
            text("SELECT pg_terminate_backend(:pid)"), {"pid": relay(services).pid}
        )
    await eventually(lambda: relay(services).pid is None, "the relay to see its connection cut")
    services.wakeup.notify("send:1")  # the other process is still listening: it must hear this
    waiting = asyncio.create_task(other.wakeup.wait("send:1", FALLBACK_S))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    gate.set()
    await within(waiting, 5)


async def test_while_the_database_is_unreachable_the_relay_retries_with_backoff_and_says_so_once(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    postgres_only(services)
    loop = asyncio.get_running_loop()
    tries: list[float] = []
    real_connect = relay(services).connect

    async def unreachable() -> Any:
        tries.append(loop.time())
        if len(tries) <= 3:
            raise ConnectionRefusedError("the database is down")
        return await real_connect()

    relay(services).connect = unreachable
    with caplog.at_level("WARNING", logger="app.wakeups"):
        relay(services).start()
        await asyncio.sleep(0)
        assert services.wakeup.poll_cap(1.0) == 1.0  # workers poll as usual meanwhile
        await asyncio.wait_for(relay(services).connected.wait(), 15)
    assert len(tries) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    assert gaps[0] < gaps[1] < gaps[2]  # each failure in a row waits longer
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages  # one when it goes down, one when it is back
    assert "down" in messages[0] and "again" in messages[1]
    assert services.wakeup.poll_cap(1.0) == FALLBACK_S


async def test_on_sqlite_wake_ups_stay_in_process_and_workers_poll_as_before(
    services: Services,
) -> None:
    if not services.database.is_sqlite:
        pytest.skip("the SQLite case")
    relay(services).start()
    assert services.wakeup.relay is None
    assert services.wakeup.poll_cap(1.0) == 1.0
    services.wakeup.notify("send:1")
    assert await services.wakeup.wait("send:1", 0)


def test_deployments_in_schemas_of_one_database_get_channels_of_their_own() -> None:
    url = "postgresql://u:p@db:5432/tgw"
    first, args = channel_and_connect_args(f"{url}?search_path=one")
    second, _ = channel_and_connect_args(f"{url}?search_path=two")
    assert len({CHANNEL, first, second}) == 3
    assert channel_and_connect_args(url)[0] == CHANNEL
    assert args == {
        "host": "db",
        "port": 5432,
        "user": "u",
        "password": "p",
        "database": "tgw",
        "timeout": PG_CONNECT_TIMEOUT_S,
    }


def test_the_listen_connection_reads_the_url_as_the_engine_does() -> None:
    url = "postgresql+asyncpg://u@db/tgw?ssl=require&prepared_statement_cache_size=0"
    _, args = channel_and_connect_args(url)
    assert args["ssl"] == "require"
    assert "prepared_statement_cache_size" not in args  # SQLAlchemy's own, not asyncpg's


class Waits:
    """Records the timeouts the workers wait for wake-ups with."""

    def __init__(self, services: Services) -> None:
        self.seen: list[tuple[str, float]] = []
        self._wait = services.wakeup.wait
        services.wakeup.wait = self.wait  # type: ignore[method-assign]

    async def wait(self, topic: str, timeout_s: float) -> bool:
        self.seen.append((topic, timeout_s))
        return await self._wait(topic, timeout_s)

    async def first(self, topic: str) -> float:
        async def seen() -> float | None:
            return next((t for name, t in self.seen if name == topic), None)

        found: float = await eventually(seen, f"a wait on {topic}")
        return found


async def test_an_idle_send_worker_waits_the_slow_fallback_only_while_wake_ups_arrive(
    services: Services, http: httpx.AsyncClient
) -> None:
    relay(services).start()
    if not services.database.is_sqlite:
        await asyncio.wait_for(relay(services).connected.wait(), 15)
    waits = Waits(services)
    worker = asyncio.create_task(make_worker(services, 1).run())
    try:
        expected = 1.0 if services.database.is_sqlite else FALLBACK_S
        assert await waits.first("send:1") == expected
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


async def test_an_idle_delivery_worker_waits_the_slow_fallback_only_while_wake_ups_arrive(
    services: Services,
) -> None:
    relay(services).start()
    if not services.database.is_sqlite:
        await asyncio.wait_for(relay(services).connected.wait(), 15)
    waits = Waits(services)
    worker = asyncio.create_task(run_delivery_worker(services))
    try:
        expected = 0.5 if services.database.is_sqlite else FALLBACK_S
        assert await waits.first(WEBHOOK_TOPIC) == expected
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
