"""The accept path's group commit: requests that arrive while a batch is written are accepted
together, each with its own answer, and the batch's registration check is one statement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.services import Services
from tests.conftest import say

REGISTERED = ["34611111111", "34622222222", "34633333333"]
STRANGERS = ["34644444444", "34655555555"]


@contextmanager
def recipient_lookups() -> Iterator[list[str]]:
    """The statements that read the recipient table, on every engine (the SQLite writer
    thread has an engine of its own)."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM recipient" in statement:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)


async def send(http: httpx.AsyncClient, headers: dict[str, str], number: str) -> httpx.Response:
    body = {"to": number, "text": f"to {number}"}
    return await http.post("/api/v1/messages", json=body, headers=headers)


async def test_a_batch_answers_each_request_and_checks_its_recipients_in_one_statement(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    for number in REGISTERED:
        await say(http, number, "Hi")
    lock = services.database.write_lock
    if lock is None:
        pytest.skip("the batch is held together by SQLite's write lock")
    numbers = [*REGISTERED, STRANGERS[0], REGISTERED[0], STRANGERS[1]]
    with recipient_lookups() as lookups:
        # While the write lock is held, the first request's batch waits for it and every other
        # request joins the next batch: two batches, whatever the number of requests.
        async with lock.hold(urgent=True):
            sends = [asyncio.create_task(send(http, api_client, n)) for n in numbers]
            await asyncio.sleep(0.3)
            assert not any(task.done() for task in sends)
        answers = await asyncio.gather(*sends)
    statuses = [(n, a.status_code) for n, a in zip(numbers, answers, strict=True)]
    assert statuses == [(n, 472 if n in STRANGERS else 202) for n in numbers]
    for number, answer in zip(numbers, answers, strict=True):
        if number in STRANGERS:
            assert number in answer.json()["error"]["message"]
    ids = [a.json()["id"] for a in answers if a.status_code == 202]
    assert len(set(ids)) == 4
    assert len(lookups) == 2, lookups


async def test_concurrent_requests_to_registered_and_unregistered_numbers_get_their_own_answers(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    """The same without forcing the batches (PostgreSQL too): whatever batches they fall in."""
    for number in REGISTERED:
        await say(http, number, "Hi")
    numbers = [*STRANGERS, *REGISTERED, *REGISTERED]
    answers = await asyncio.gather(*(send(http, api_client, n) for n in numbers))
    assert [a.status_code for a in answers] == [472, 472, 202, 202, 202, 202, 202, 202]
    listed = await http.get("/api/v1/messages?limit=100", headers=api_client)
    assert listed.status_code == 200, listed.text
    assert sorted(m["to"] for m in listed.json()["data"]) == sorted([*REGISTERED, *REGISTERED])
