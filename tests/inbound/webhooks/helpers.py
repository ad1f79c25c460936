"""Shared pieces of the webhook tests: a programmable receiver, endpoints and events."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlmodel import col

from app.events import append_event
from app.main import make_delivery_worker
from app.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from app.services import Services
from inbound.webhooks.delivery import DeliveryWorker
from inbound.webhooks.endpoints import create_endpoint
from tests.conftest import Clock

URL = "https://hooks.example.com/tgw"
PUBLIC_ADDRESS = "93.184.216.34"

Answer = int | httpx.Response | Exception
Rule = Callable[[httpx.Request, dict[str, Any]], Answer | None]


def now_clock() -> Clock:
    """The real time (to the second): the standardwebhooks library checks timestamps against it."""
    return Clock(datetime.now(UTC).replace(microsecond=0))


async def public_dns(host: str) -> list[str]:
    return [PUBLIC_ADDRESS]


async def private_dns(host: str) -> list[str]:
    return ["10.0.0.8"]


class Receiver:
    """A webhook receiver for httpx.MockTransport: records requests, answers as told.

    `answers` are used first, in order; then `rule` (if it returns something); else 200.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.answers: list[Answer] = []
        self.rule: Rule | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        raw = await request.aread()
        body: dict[str, Any] = orjson.loads(raw)
        self.requests.append(request)
        self.bodies.append(body)
        answer: Answer | None = self.answers.pop(0) if self.answers else None
        if answer is None and self.rule is not None:
            answer = self.rule(request, body)
        if answer is None:
            answer = 200
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(answer, text="ok" if answer < 300 else "nope")

    @property
    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]

    def texts(self, number: str | None = None) -> list[str]:
        return [b["message"] for b in self.bodies if number is None or b.get("number") == number]


@asynccontextmanager
async def delivery_worker(
    services: Services, receiver: Receiver, **kwargs: Any
) -> AsyncIterator[DeliveryWorker]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        yield make_delivery_worker(
            services, client, rng=kwargs.pop("rng", random.Random(7)), **kwargs
        )


async def add_endpoint(
    services: Services, url: str = URL, events: list[str] | None = None
) -> tuple[str, str]:
    """(endpoint id, secret)."""
    async with services.database.write() as session:
        endpoint, secret = await create_endpoint(
            session, services.secret_box, url=url, events=events, now=services.clock()
        )
    return endpoint.id, secret


async def write_event(
    services: Services,
    number: str = "34600000001",
    text: str = "hello",
    type_: str = "message.received",
) -> str:
    """Append one event for `number` on instance 1; its id."""
    async with services.database.write() as session:
        event = await append_event(
            session,
            type_,
            now=services.clock(),
            instance=1,
            number=number,
            message=text,
            data={"text": text},
        )
    return event.id


async def deliveries(services: Services, endpoint_id: str | None = None) -> list[WebhookDelivery]:
    async with services.database.read() as session:
        query = select(WebhookDelivery).order_by(col(WebhookDelivery.id))
        if endpoint_id is not None:
            query = query.where(col(WebhookDelivery.endpoint_id) == endpoint_id)
        return list(await session.scalars(query))


async def attempts(services: Services, delivery_id: int) -> list[DeliveryAttempt]:
    async with services.database.read() as session:
        return list(
            await session.scalars(
                select(DeliveryAttempt)
                .where(col(DeliveryAttempt.delivery_id) == delivery_id)
                .order_by(col(DeliveryAttempt.id))
            )
        )


async def endpoint(services: Services, endpoint_id: str) -> WebhookEndpoint:
    async with services.database.read() as session:
        found = await session.get(WebhookEndpoint, endpoint_id)
    assert found is not None
    return found
