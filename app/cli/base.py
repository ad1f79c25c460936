"""What every `tgw` command shares: the group, its context, secrets, the database, output."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from app import json_encoding
from app.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


class Context:
    def __init__(self, config: str | None, sandbox: bool) -> None:
        self.config = config
        self.sandbox = sandbox
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                settings = load_settings(self.config)
            except SettingsError as exc:
                click.echo(f"tgw: configuration error: {exc}", err=True)
                sys.exit(2)
            self._settings = settings.with_sandbox() if self.sandbox else settings
        return self._settings


@click.group()
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Path to tgw.toml.")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """tgw: a self-hosted Telegram gateway with a WhatsMate-compatible HTTP API."""
    ctx.obj = Context(config, sandbox=False)


def _ctx(ctx: click.Context, config: str | None) -> Context:
    obj: Context = ctx.obj
    if config:
        obj.config = config
    return obj


config_option = click.option(
    "--config", "sub_config", type=click.Path(dir_okay=False), help="Path to tgw.toml."
)


def _secret_file(settings: Settings, name: str, make: Callable[[], str]) -> tuple[str, Path]:
    """A secret generated once into a 0600 file beside the database."""
    from app import private_files

    path = settings.data_dir() / name
    if path.exists():
        private_files.narrow(path)  # one made by hand may be open to other users
        return path.read_text(encoding="utf-8").strip(), path
    private_files.make_private_folders(path.parent)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, private_files.FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value, path


def admin_token(settings: Settings) -> tuple[str, Path | None]:
    if settings.security.admin_token:
        return settings.security.admin_token, None
    return _secret_file(settings, "tgw.admin-token", lambda: secrets.token_urlsafe(32))


def secret_key(settings: Settings) -> str:
    if settings.security.secret_key:
        return settings.security.secret_key
    return _secret_file(settings, "tgw.key", lambda: secrets.token_urlsafe(32))[0]


def _run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def _migrate(settings: Settings) -> None:
    """Bring the schema up to date: what every command that writes does first."""
    from app.db import display_url
    from app.migrate import upgrade

    try:
        upgrade(settings.database.url)
    except SettingsError as exc:
        click.echo(f"tgw: configuration error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        where = display_url(settings.database.url)
        click.echo(f"tgw: cannot migrate the database at {where}: {exc}", err=True)
        sys.exit(1)


def _require_schema(settings: Settings) -> None:
    """What a command that only reads does first: refuse (status 1) a database that is not
    at this code's schema, saying to run `tgw migrate`, and write nothing."""
    from app.db import display_url
    from app.migrate import SchemaNotCurrent, check_schema

    try:
        _run(check_schema(settings.database.url))
    except SettingsError as exc:
        click.echo(f"tgw: configuration error: {exc}", err=True)
        sys.exit(2)
    except SchemaNotCurrent as exc:
        click.echo(f"tgw: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:
        where = display_url(settings.database.url)
        click.echo(f"tgw: cannot read the database at {where}: {exc}", err=True)
        sys.exit(1)


async def _with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """`work` in one write transaction, committed when it returns."""
    from app.db import create_engine, create_session_factory, transaction

    engine = create_engine(settings.database.url)
    try:
        factory = create_session_factory(engine)
        async with transaction(factory) as session:
            return await work(session)
    finally:
        await engine.dispose()


async def _reading(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """`work` in a read-only session: no write lock is taken, nothing is committed."""
    from app.db import create_engine, create_session_factory

    engine = create_engine(settings.database.url)
    try:
        async with create_session_factory(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _echo(data: Any, as_json: bool, text: str) -> None:
    click.echo(json_encoding.dumps(data, indent=True).decode() if as_json else text)


def _fail(exc: Exception) -> None:
    from app.errors import ApiError

    if isinstance(exc, ApiError):
        click.echo(f"tgw: {exc.message}", err=True)
        sys.exit(1)
    raise exc
