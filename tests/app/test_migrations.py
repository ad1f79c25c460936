"""The alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app.db import create_engine
from app.migrate import upgrade
from tests.conftest import empty_database


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
