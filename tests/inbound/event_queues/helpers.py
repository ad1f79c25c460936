"""Events written straight into the log (a real commit, which wakes the event feed), and the
queue requests the tests make."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from app.events import append_events, event_row
from app.models import Event, table_of
from app.services import Services

E = table_of(Event)
QUEUES = "/api/v1/event-queues"


async def emit(services: Services, type_: str = "message.sent", instance: int = 1) -> int:
    """One event committed; its seq."""

    def write(conn: Connection) -> int:
        row = event_row(type_, now=services.clock(), instance=instance, data={"n": instance})
        append_events(conn, [row])
        return int(conn.scalar(select(func.max(E.c.seq))) or 0)

    return await services.database.run(write, urgent=True)


async def make_queue(
    http: httpx.AsyncClient, headers: dict[str, str], name: str = "q", **settings: Any
) -> dict[str, Any]:
    response = await http.post(QUEUES, json={"name": name, **settings}, headers=headers)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


async def take(
    http: httpx.AsyncClient, headers: dict[str, str], name: str = "q", **query: Any
) -> list[int]:
    """The seqs a `next` hands out."""
    response = await http.get(f"{QUEUES}/{name}/next", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return [e["seq"] for e in response.json()["data"]]


async def ack(
    http: httpx.AsyncClient, headers: dict[str, str], seq: int, name: str = "q"
) -> httpx.Response:
    return await http.post(f"{QUEUES}/{name}/ack", json={"seq": seq}, headers=headers)
