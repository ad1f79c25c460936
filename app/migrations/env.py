"""Alembic environment: async engine from the URL the caller passed (app/migrate.py)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import app.models
import app.telegram.sandbox.tables  # noqa: F401  (and the sandbox's own)
from app.db import create_engine

config = context.config
target_metadata = SQLModel.metadata

# Several processes of a deployment start at once and each migrates first: on PostgreSQL they
# take turns on this transaction-scoped advisory lock, so the second one reads the version the
# first one committed (and has nothing left to do) instead of creating the same tables again.
MIGRATION_LOCK_KEY = 0x7467_7701  # "tgw" 01: any constant no other lock of the gateway uses


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


async def _main() -> None:
    engine = create_engine(config.attributes["url"])
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `tgw migrate`")
asyncio.run(_main())
