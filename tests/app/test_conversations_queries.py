"""GET /api/v1/conversations reads a page's latest messages and unread counts for every person
at once (app/history/overview.py): as many queries for 6 people as for 2, and the same answers
as reading each chat on its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from app.history.overview import latest_messages, unread_counts
from app.history.reads import chat_page, conversation_page, unread_count
from app.services import Services
from tests.app.test_conversations import conversations, registered, send, unseen
from tests.conftest import Clock, drain, say

PEOPLE = [f"3461234{n:04d}" for n in range(6)]


@contextmanager
def counted(services: Services) -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile."""
    statements: list[str] = []
    engine = services.database.engine.sync_engine

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def queries_of_the_list(
    http: httpx.AsyncClient, services: Services, headers: dict[str, str], people: int
) -> int:
    await conversations(http, headers)  # what a first request reads once (the key) is read
    with counted(services) as statements:
        listed = (await conversations(http, headers))["data"]
    assert len(listed) == people
    # The key's own bookkeeping (last_used_at, written now and then) is not the list's.
    return len([s for s in statements if s.startswith("SELECT") and "api_client" not in s])


async def test_the_list_takes_as_many_queries_for_six_people_as_for_two(
    http: httpx.AsyncClient,
    services: Services,
    api_client: dict[str, str],
    worker: Any,
    clock: Clock,
) -> None:
    for number in PEOPLE[:2]:
        await registered(http, worker, clock, number)
    few = await queries_of_the_list(http, services, api_client, 2)
    for number in PEOPLE[2:]:
        await registered(http, worker, clock, number)
        await say(http, number, "and another thing")
    many = await queries_of_the_list(http, services, api_client, 6)
    assert many == few
    assert few == 3  # the page, the latest messages, the unread counts


async def test_every_person_s_latest_message_and_unread_count_are_those_of_their_chat(
    http: httpx.AsyncClient,
    services: Services,
    api_client: dict[str, str],
    worker: Any,
    clock: Clock,
) -> None:
    ana, ben, cat, dan = PEOPLE[:4]
    for number in (ana, ben, cat, dan):
        await registered(http, worker, clock, number)
    await say(http, ana, "one")
    await say(http, ana, "two")  # two unread
    await send(http, api_client, ben, "shipped")
    await drain(worker)  # answered: none unread, the latest is ours
    clock.advance(1)
    await unseen(http, cat, "from my phone", outgoing=True)
    await say(http, cat, "thanks")
    response = await http.post(f"/api/v1/conversations/{cat}/backfill", headers=api_client)
    assert response.status_code == 200, response.text
    await send(http, api_client, dan, "queued, not sent")  # no Telegram id yet
    async with services.database.read() as session:
        found = await conversation_page(
            session, statuses=None, instances=None, after=None, limit=10
        )
        people = [person for person, _ in found]
        latest = await latest_messages(session, people)
        unread = await unread_counts(session, people)
        one_by_one = {
            p.id: ((await chat_page(session, p, None, 1))[0], await unread_count(session, p))
            for p in people
        }
    assert len(people) == 4
    assert {p.id: (tuple(latest[p.id])[:20], unread[p.id]) for p in people} == {
        rid: (tuple(row)[:20], count) for rid, (row, count) in one_by_one.items()
    }
    assert sorted(unread.values()) == [0, 0, 1, 2]  # (cat: "thanks" after the phone's)
