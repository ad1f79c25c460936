"""Real databases for every test: SQLite always, PostgreSQL too when TEST_DATABASE_URL is set.

Each test gets a fresh schema (a new SQLite file, or a new PostgreSQL schema).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables)
from app.cluster.ownership import make_worker, start_instances
from app.db import async_url, create_engine
from app.main import create_app
from app.services import Services, build_services
from app.settings import Settings
from tests.e2e.private_postgres import private_postgres

__all__ = ["private_postgres"]  # a fixture for every test: a PostgreSQL cluster of its own

ADMIN_TOKEN = "test-admin-token"
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


class Clock:
    """A settable clock for workers and quotas."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/test.db"
        return
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}search_path={schema}"


async def _pg_schema(db_url: str, statement: str) -> None:
    """CREATE or DROP the test's own PostgreSQL schema (named in its URL); no-op on SQLite."""
    if db_url.startswith("sqlite"):
        return
    name = db_url.rsplit("search_path=", 1)[1]
    admin = create_async_engine(async_url(PG_URL or ""))
    async with admin.begin() as conn:
        await conn.execute(text(statement.format(name=name)))
    await admin.dispose()


@asynccontextmanager
async def empty_database(db_url: str) -> AsyncIterator[str]:
    """A database with nothing in it for one test: a new PostgreSQL schema, dropped after."""
    await _pg_schema(db_url, 'CREATE SCHEMA "{name}"')
    try:
        yield db_url
    finally:
        await _pg_schema(db_url, 'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture
async def schema(db_url: str) -> AsyncIterator[str]:
    """The tables of the models, in a fresh database, for one test."""
    async with empty_database(db_url):
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        await engine.dispose()
        yield db_url


def make_settings(db_url: str, **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "security": {"admin_token": ADMIN_TOKEN},
        "instances": [{"number": 1, "backend": "sandbox"}],
        "sending": {"per_second": 0, "per_recipient_interval_s": 0},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings.model_validate(data)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the settings the `services` fixture uses."""
    return {}


@pytest.fixture
async def services(
    schema: str, clock: Clock, settings_overrides: dict[str, Any]
) -> AsyncIterator[Services]:
    svc = build_services(
        make_settings(schema, **settings_overrides), ADMIN_TOKEN, clock=clock, run_workers=False
    )
    yield svc
    await svc.close()


@pytest.fixture
async def http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process. Workers are not started: tests drive them step by step."""
    app = create_app(services)
    await start_instances(services, workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as client:
        yield client
    for backend in services.telegram.backends.values():
        await backend.stop()


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def api_client(http: httpx.AsyncClient) -> dict[str, str]:
    """Headers of a fresh API client."""
    response = await http.post(
        "/admin/clients", json={"client_id": "ops@example.com"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return {
        "X-WM-CLIENT-ID": "ops@example.com",
        "X-WM-CLIENT-SECRET": response.json()["client_secret"],
    }


async def say(http: httpx.AsyncClient, number: str, text: str, **person: Any) -> dict[str, Any]:
    """A sandbox person writes to instance 1."""
    body = {"from": {"number": number, "first_name": "Test", **person}, "text": text}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def worker(services: Services) -> Any:
    """The send worker of instance 1, driven by calling `await worker.step()`."""
    return make_worker(services, 1)


async def drain(worker: Any, rounds: int = 50) -> None:
    """Step the worker until it has nothing due right now."""
    for _ in range(rounds):
        if await worker.step() > 0:
            return
    raise AssertionError("the worker still had work after many steps")
