"""The private PostgreSQL cluster helper: a restart is real (connections cut), data is kept."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.private_postgres import PrivatePostgres


async def test_a_restart_cuts_open_connections_and_keeps_the_data(
    private_postgres: PrivatePostgres,
) -> None:
    engine = create_async_engine(private_postgres.url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE kept (n int)"))
            await conn.execute(text("INSERT INTO kept VALUES (42)"))
        async with engine.connect() as conn:
            private_postgres.restart()
            with pytest.raises(exc.DBAPIError):
                await conn.execute(text("SELECT 1"))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT n FROM kept")) == 42
    finally:
        await engine.dispose()


async def test_a_stopped_cluster_refuses_connections_until_started_again(
    private_postgres: PrivatePostgres,
) -> None:
    private_postgres.stop()
    assert not private_postgres.is_running()
    engine = create_async_engine(private_postgres.url)
    try:
        with pytest.raises((exc.DBAPIError, OSError)):
            async with engine.connect():
                pass
        private_postgres.start()
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
