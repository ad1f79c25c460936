"""Alembic migrations, run programmatically (`tgw migrate`, and first thing in `tgw serve`).

Commands that only read check the schema instead (`check_schema`): they never write, so a
read on an old database says to run `tgw migrate` rather than upgrading it on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from app import private_files
from app.db import async_url, create_engine, display_url, is_sqlite, sqlite_path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaNotCurrent(Exception):
    """The database is not at the schema this code needs; the message says what to run."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = async_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    with _one_at_a_time(url):
        command.upgrade(alembic_config(url), revision)


@contextlib.contextmanager
def _one_at_a_time(url: str) -> Iterator[None]:
    """Processes that start together migrate one after another, the next one finding nothing
    left to do. PostgreSQL: an advisory lock in the migration's transaction (migrations/env.py).
    SQLite: an exclusive lock on a file beside the database (the kernel frees it if the holder
    dies), since a second writer would otherwise give up on the busy database."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    lock = path.with_name(f"{path.name}.migrate.lock")
    private_files.make_private_folders(lock.parent)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, private_files.FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


async def upgrade_async(url: str) -> None:
    # Alembic's env.py runs its own event loop; keep it off the caller's loop.
    await asyncio.to_thread(upgrade, url)


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    """The newest migration of this code."""
    head = _scripts().get_current_head()
    assert head is not None  # there is at least the initial schema
    return head


def is_known_revision(revision: str) -> bool:
    """Whether this code has that migration (a newer tgw's database has one it lacks)."""
    return revision in {script.revision for script in _scripts().walk_revisions()}


def _revision(connection: Connection) -> str | None:
    # Reads alembic_version if it exists; creates nothing.
    return MigrationContext.configure(connection).get_current_revision()


def _sqlite_revision(path: Path | None) -> str | None:
    if path is None or not path.exists():
        return None  # no file (or in memory): never migrated, and opening would create it
    # Opened read-only (mode=ro), and without the gateway's engine, which makes the file and
    # its folder and sets the journal mode: nothing here may write.
    uri = f"{path.as_uri()}?mode=ro"
    engine = sqlalchemy.create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool
    )
    try:
        with engine.connect() as connection:
            return _revision(connection)
    finally:
        engine.dispose()


async def current_revision(url: str) -> str | None:
    """The migration the database is at; None when it was never migrated. Writes nothing."""
    if is_sqlite(url):
        return await asyncio.to_thread(_sqlite_revision, sqlite_path(url))
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_revision)
    finally:
        await engine.dispose()


async def check_schema(url: str) -> None:
    """Raise SchemaNotCurrent unless the database is at this code's newest migration."""
    current, head = await current_revision(url), head_revision()
    if current == head:
        return
    where = display_url(url)
    if current is None:
        raise SchemaNotCurrent(
            f"the database at {where} has no tgw schema yet: run `tgw migrate` first"
        )
    if not is_known_revision(current):
        raise SchemaNotCurrent(
            f"the database at {where} is at schema {current}, which this tgw does not know"
            f" (its newest is {head}): it was migrated by a newer tgw"
        )
    raise SchemaNotCurrent(
        f"the database at {where} is at schema {current}, this tgw needs {head}:"
        " run `tgw migrate` first"
    )
