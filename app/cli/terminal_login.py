"""`tgw login` and `tgw logout`: an account logged in from the terminal.

The steps are the adapter's (TelethonLogin); this module only talks to the admin. The session
it stores is picked up by `tgw serve`, already running or started later.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import click

from app.db import Database, create_engine, open_database
from app.instances import set_instance_status, sync_instances
from app.lease import InstanceLease
from app.models import Instance
from app.settings import Settings
from app.telegram.port import LoginError, LoginStep
from app.telegram.session_store import SessionStore
from app.telegram.telethon import TelethonConfig, TelethonLogin, log_out, telethon_config

CODE_TRIES = 3
PASSWORD_TRIES = 3


class Abort(Exception):
    """Stop with this message (exit status 1)."""


@contextlib.asynccontextmanager
async def _store(settings: Settings, key: str) -> AsyncIterator[tuple[SessionStore, Database]]:
    database = open_database(settings.database.url)
    try:
        yield SessionStore(database, key, lambda: datetime.now(UTC)), database
    finally:
        await database.close()


async def _gateway_running(settings: Settings, instance: int) -> bool:
    """Whether a `tgw serve` holds the instance's lease (app/lease.py)."""
    engine = create_engine(settings.database.url)
    lease = InstanceLease(engine, settings.database.url, instance)
    try:
        return not await lease.try_acquire()
    finally:
        await lease.release()
        await engine.dispose()


def _config(settings: Settings, instance: int) -> TelethonConfig:
    conf = settings.instance(instance)
    if conf is None:
        raise Abort(f"instance {instance} is not in the configuration ([[instances]] number)")
    if conf.backend != "telethon":
        raise Abort(
            f"instance {instance} uses the {conf.backend} backend; only telethon instances log in"
            " from the terminal (a sandbox instance's login is simulated through the admin API)"
        )
    config = telethon_config(settings)
    if config is None:
        raise Abort(
            "set [telegram] api_id and api_hash (from https://my.telegram.org, 'API development"
            " tools'), e.g. TGW_TELEGRAM__API_ID and TGW_TELEGRAM__API_HASH"
        )
    return dataclasses.replace(config, proxy=conf.proxy)


def _describe(step: LoginStep) -> str:
    account = step.account
    if account is None:
        return "logged in"
    name = " ".join(part for part in (account.first_name, account.last_name) if part)
    phone = f"+{account.phone}" if account.phone else "number hidden"
    return f"logged in as {name or 'the account'} ({phone}, user id {account.user_id})"


def _print_qr(url: str, expires_at: datetime | None) -> None:
    import segno

    qr = segno.make(url, error="m")
    qr.terminal(out=sys.stdout, compact=True, border=2)
    until = f" (valid until {expires_at:%H:%M:%S} UTC)" if expires_at else ""
    click.echo(f"{url}{until}")
    click.echo(
        "Scan it with Telegram on the phone: Settings > Devices > Link Desktop Device."
        " A new code appears here when this one expires."
    )


async def _password(login: TelethonLogin, hint: str | None) -> LoginStep:
    click.echo("This account has two-step verification." + (f" Hint: {hint}" if hint else ""))
    for attempt in range(1, PASSWORD_TRIES + 1):
        password = click.prompt("2FA password", hide_input=True, err=True)
        try:
            return await login.submit_password(password)
        except LoginError as exc:
            if exc.code != "password_invalid" or attempt == PASSWORD_TRIES:
                raise
            click.echo(f"tgw: {exc}; try again.", err=True)
        finally:
            del password  # never kept, never logged
    raise AssertionError("unreachable")


async def _by_code(login: TelethonLogin, phone: str | None) -> LoginStep:
    if phone is None:
        phone = click.prompt("Phone number of the account, with country code", err=True)
    await login.request_code(phone)
    click.echo(
        "Telegram sent a login code to the Telegram app on that number (the chat named"
        " 'Telegram'). Type it here; do not forward it in a chat, that voids it."
    )
    for attempt in range(1, CODE_TRIES + 1):
        code = click.prompt("Code", err=True)
        try:
            step = await login.submit_code(code)
        except LoginError as exc:
            if exc.code != "code_invalid" or attempt == CODE_TRIES:
                raise
            click.echo(f"tgw: {exc}", err=True)
            continue
        if step.step == "password_needed":
            return await _password(login, step.password_hint)
        return step
    raise AssertionError("unreachable")


async def _by_qr(login: TelethonLogin, wait_s: float) -> LoginStep:
    step = await login.start_qr()
    deadline = datetime.now(UTC).timestamp() + wait_s
    while step.step == "awaiting_qr":
        assert step.qr_url is not None
        _print_qr(step.qr_url, step.expires_at)
        left = deadline - datetime.now(UTC).timestamp()
        if left <= 0:
            raise LoginError("qr_expired", "no one scanned the QR code in time")
        expires_in = (
            (step.expires_at - datetime.now(UTC)).total_seconds() if step.expires_at else 30.0
        )
        step = await login.wait_qr(max(1.0, min(expires_in, left)))
    if step.step == "password_needed":
        return await _password(login, step.password_hint)
    return step


async def login(
    settings: Settings,
    key: str,
    instance: int,
    *,
    phone: str | None,
    qr: bool,
    force: bool,
    qr_wait_s: float = 600.0,
) -> LoginStep:
    config = _config(settings, instance)
    async with _store(settings, key) as (store, database):
        existing = await store.load(instance)
        healthy = bool(existing and existing.get("account") and not existing.get("revoked"))
        if healthy and not force:
            account = existing["account"] if existing else {}
            raise Abort(
                f"instance {instance} is already logged in (user id {account['user_id']},"
                f" +{account.get('phone') or '?'}); run `tgw logout` first or pass --force"
            )
        if healthy and await _gateway_running(settings, instance):
            raise Abort(
                f"a running `tgw serve` uses instance {instance}'s session: stop it first (or"
                " log out through its admin API), then log in again"
            )
        flow = TelethonLogin(instance, store, config)
        try:
            step = await (_by_qr(flow, qr_wait_s) if qr else _by_code(flow, phone))
        finally:
            await flow.close()
        async with database.write() as session:
            now = datetime.now(UTC)
            await sync_instances(session, settings, now)
            inst = await session.get(Instance, instance)
            if inst is not None and step.account is not None:
                inst.phone = step.account.phone
                inst.user_id = step.account.user_id
        return step


async def logout(settings: Settings, key: str, instance: int) -> bool:
    config = _config(settings, instance)
    async with _store(settings, key) as (store, database):
        had_session = await log_out(instance, store, config)
        async with database.write() as session:
            now = datetime.now(UTC)
            await sync_instances(session, settings, now)
            inst = await session.get(Instance, instance)
            if inst is not None:
                await set_instance_status(session, inst, "logged_out", "tgw logout", now)
        return had_session


def describe(step: LoginStep) -> str:
    return _describe(step)
