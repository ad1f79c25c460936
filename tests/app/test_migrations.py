"""The alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app.db import create_engine
from app.migrate import upgrade
from tests.conftest import empty_database

ROOT = Path(__file__).resolve().parents[2]


async def _diff(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}),
                    SQLModel.metadata,
                )
            )
    finally:
        await engine.dispose()


async def test_upgrade_of_an_empty_database_leaves_no_difference_to_the_models(
    db_url: str,
) -> None:
    async with empty_database(db_url):
        await asyncio.to_thread(upgrade, db_url)
        assert await _diff(db_url) == []
        await asyncio.to_thread(upgrade, db_url)  # a second run is a no-op


async def test_0009_gives_existing_webhook_endpoints_the_standard_format(db_url: str) -> None:
    from sqlalchemy import bindparam, text

    from app.models import UTCDateTime

    insert = text(
        "INSERT INTO webhook_endpoint (id, url, secret, enabled, source, last_seq, created_at,"
        " updated_at) VALUES ('ep_old', 'https://a.example.com/', :secret, true, 'api', 0,"
        " :now, :now)"
    ).bindparams(bindparam("now", type_=UTCDateTime()))
    async with empty_database(db_url):
        await asyncio.to_thread(upgrade, db_url, "0008")
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    insert, {"secret": b"sealed", "now": datetime(2026, 11, 25, tzinfo=UTC)}
                )
            await asyncio.to_thread(upgrade, db_url)
            async with engine.connect() as conn:
                row = (await conn.execute(text("SELECT format, token FROM webhook_endpoint"))).one()
        finally:
            await engine.dispose()
    assert tuple(row) == ("standard", None)


async def test_processes_starting_at_once_migrate_an_empty_database_one_after_another(
    db_url: str,
) -> None:
    # A deployment's processes each migrate first, and start together: none may fail on the
    # tables another one is creating. (Processes, not threads: alembic's context is global.)
    code = "import sys; from app.migrate import upgrade; upgrade(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    async with empty_database(db_url):
        started = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", code, db_url, env=env, stderr=asyncio.subprocess.PIPE
            )
            for _ in range(4)
        ]
        errors = [(await p.communicate())[1].decode()[-2000:] for p in started]
        assert [p.returncode for p in started] == [0, 0, 0, 0], errors
        assert await _diff(db_url) == []
