"""`tgw` commands: the only place that reads settings and builds things."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from app.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
# A configured admin token shorter than this is warned about at `tgw serve`.
MIN_ADMIN_TOKEN_CHARS = 24


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


async def _with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from app.db import create_engine, create_session_factory, transaction

    engine = create_engine(settings.database.url)
    try:
        factory = create_session_factory(engine)
        async with transaction(factory) as session:
            return await work(session)
    finally:
        await engine.dispose()


def _echo(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def _fail(exc: Exception) -> None:
    from app.errors import ApiError

    if isinstance(exc, ApiError):
        click.echo(f"tgw: {exc.message}", err=True)
        sys.exit(1)
    raise exc


def configure_logging(level: str) -> None:
    """The log of `tgw serve`: never a statement's parameters or a fetched row (message texts,
    numbers, secret hashes), at any level; the engines also hide parameters in their errors."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    chosen = logging.getLogger().getEffectiveLevel()
    # Alembic says at INFO which plugins it set up and which migrations ran, at every start.
    alembic = chosen if chosen <= logging.DEBUG else max(chosen, logging.WARNING)
    logging.getLogger("alembic").setLevel(alembic)
    # aiosqlite logs each call at DEBUG with its arguments: the SQL and its parameters.
    # (SQLAlchemy's own loggers stay at the WARNING it gives them: at INFO and DEBUG they
    # would print each statement and each row fetched.)
    logging.getLogger("aiosqlite").setLevel(max(chosen, logging.INFO))


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


@main.command()
@config_option
@click.option("--sandbox", is_flag=True, help="Make every instance a sandbox instance.")
@click.option("--host", default=None, help="Override [server] host.")
@click.option("--port", default=None, type=int, help="Override [server] port.")
@click.option("--log-level", default="info", show_default=True)
@click.pass_context
def serve(
    ctx: click.Context,
    sub_config: str | None,
    sandbox: bool,
    host: str | None,
    port: int | None,
    log_level: str,
) -> None:
    """Run the HTTP API and all workers in one process (migrates first)."""
    import uvicorn

    from app.http_limits import header_deadline_protocol
    from app.main import create_app
    from app.services import build_services

    obj = _ctx(ctx, sub_config)
    obj.sandbox = sandbox
    settings = obj.settings
    server = settings.server.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    settings = settings.model_copy(update={"server": server})
    configure_logging(log_level)
    _migrate(settings)
    token, token_path = admin_token(settings)
    key = secret_key(settings)
    if token_path is not None:
        click.echo(f"tgw: admin token in {token_path} (print it with `tgw admin-token`)")
    elif len(token) < MIN_ADMIN_TOKEN_CHARS:
        # The lockout never refuses the right token, so it cannot bound guessing: the token's
        # length does (the generated one is 32 random bytes).
        click.echo(
            f"tgw: warning: [security] admin_token is {len(token)} characters; use at least "
            f"{MIN_ADMIN_TOKEN_CHARS} random ones (e.g. `openssl rand -hex 32`)",
            err=True,
        )
    backends = ", ".join(f"{i.number}:{i.backend}" for i in settings.instances)
    click.echo(f"tgw: serving on http://{server.host}:{server.port} (instances {backends})")
    services = build_services(settings, token, secret_key=key)
    uvicorn.run(
        create_app(services),
        host=server.host,
        port=server.port,
        log_level=log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
        # The app decides which forwarding headers to believe ([server] trusted_proxies, in
        # app/client_address.py); uvicorn's own would believe any peer on loopback.
        proxy_headers=False,
        # Slow clients (app/http_limits.py): headers are timed by the protocol, bodies by the
        # app's middleware; idle kept-alive connections close after keep_alive_timeout_s.
        http=header_deadline_protocol(server.header_timeout_s),
        timeout_keep_alive=server.keep_alive_timeout_s,
        # uvicorn answers 503 once `len(connections) >= limit`, the new one included.
        limit_concurrency=server.max_connections + 1,
    )


@main.command()
@config_option
@click.pass_context
def migrate(ctx: click.Context, sub_config: str | None) -> None:
    """Apply the database migrations."""
    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    from app.db import display_url

    click.echo(f"tgw: database at {display_url(settings.database.url)} is up to date")


@main.command("admin-token")
@config_option
@click.pass_context
def admin_token_cmd(ctx: click.Context, sub_config: str | None) -> None:
    """Print the admin token (generating it once if needed)."""
    click.echo(admin_token(_ctx(ctx, sub_config).settings)[0])


@main.group()
def clients() -> None:
    """Manage API clients (X-WM-CLIENT-ID / X-WM-CLIENT-SECRET)."""


def _parse_expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@clients.command("create")
@click.argument("client_id")
@click.option("--expires", default=None, help="Expiry, ISO 8601 (e.g. 2027-12-31).")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def clients_create(
    ctx: click.Context, client_id: str, expires: str | None, as_json: bool, sub_config: str | None
) -> None:
    """Create a client; its secret is shown once."""
    from app import clients as api

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    now = datetime.now(UTC)
    try:
        view, secret = _run(
            _with_session(
                settings, lambda s: api.create_client(s, client_id, _parse_expiry(expires), now)
            )
        )
    except Exception as exc:
        _fail(exc)
        return
    data = {**view.as_dict(now), "client_secret": secret}
    _echo(
        data,
        as_json,
        f"client_id:     {view.client_id}\nclient_secret: {secret}\n"
        "(the secret is shown only now; store it safely)",
    )


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def clients_list(ctx: click.Context, as_json: bool, sub_config: str | None) -> None:
    """List clients (never their secrets)."""
    from app import clients as api

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    now = datetime.now(UTC)
    views = _run(_with_session(settings, api.list_clients))
    rows = [v.as_dict(now) for v in views]
    lines = [f"{r['client_id']}\t{r['state']}\texpires {r['expires_at'] or 'never'}" for r in rows]
    _echo(rows, as_json, "\n".join(lines) or "no API clients")


@clients.command("renew")
@click.argument("client_id")
@click.option("--expires", required=True, help="New expiry, ISO 8601.")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def clients_renew(
    ctx: click.Context, client_id: str, expires: str, as_json: bool, sub_config: str | None
) -> None:
    """Extend a client's expiry; the id and secret stay the same."""
    from app import clients as api

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    now = datetime.now(UTC)
    try:
        view = _run(
            _with_session(
                settings, lambda s: api.renew_client(s, client_id, _parse_expiry(expires), now)
            )
        )
    except Exception as exc:
        _fail(exc)
        return
    _echo(view.as_dict(now), as_json, f"{client_id} now expires {view.expires_at}")


@clients.command("rotate")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def clients_rotate(
    ctx: click.Context, client_id: str, as_json: bool, sub_config: str | None
) -> None:
    """Give a client a new secret (the old one stops working)."""
    from app import clients as api

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    now = datetime.now(UTC)
    try:
        secret = _run(_with_session(settings, lambda s: api.rotate_client(s, client_id, now)))
    except Exception as exc:
        _fail(exc)
        return
    _echo(
        {"client_id": client_id, "client_secret": secret},
        as_json,
        f"client_id:     {client_id}\nclient_secret: {secret}",
    )


@clients.command("revoke")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def clients_revoke(
    ctx: click.Context, client_id: str, as_json: bool, sub_config: str | None
) -> None:
    """Revoke a client at once."""
    from app import clients as api

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    now = datetime.now(UTC)
    try:
        view = _run(_with_session(settings, lambda s: api.revoke_client(s, client_id, now)))
    except Exception as exc:
        _fail(exc)
        return
    _echo(view.as_dict(now), as_json, f"{client_id} revoked")


@main.command()
@click.option("--instance", default=1, show_default=True, type=int)
@click.option("--phone", default=None, help="The account's number (asked for if not given).")
@click.option("--qr", is_flag=True, help="Log in by scanning a QR code with the phone instead.")
@click.option(
    "--force",
    is_flag=True,
    help="Replace a session that is still logged in (stop `tgw serve` first).",
)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def login(
    ctx: click.Context,
    instance: int,
    phone: str | None,
    qr: bool,
    force: bool,
    as_json: bool,
    sub_config: str | None,
) -> None:
    """Log the instance's Telegram account in: phone, code, 2FA password (or --qr)."""
    from app import terminal_login
    from app.telegram.port import LoginError

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    key = secret_key(settings)
    try:
        step = _run(terminal_login.login(settings, key, instance, phone=phone, qr=qr, force=force))
    except terminal_login.Abort as exc:
        click.echo(f"tgw: {exc}", err=True)
        sys.exit(1)
    except LoginError as exc:
        if as_json:
            click.echo(json.dumps({"error": {"code": exc.code, "message": str(exc)}}))
        click.echo(f"tgw: login failed ({exc.code}): {exc}", err=True)
        sys.exit(1)
    account = step.account
    data = {
        "instance": instance,
        "step": step.step,
        "user_id": account.user_id if account else None,
        "phone": account.phone if account else None,
    }
    _echo(
        data,
        as_json,
        f"instance {instance}: {terminal_login.describe(step)}."
        " `tgw serve` uses this session (a running one picks it up within seconds).",
    )


@main.command()
@click.option("--instance", default=1, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def logout(ctx: click.Context, instance: int, as_json: bool, sub_config: str | None) -> None:
    """Log the instance's Telegram session out (at Telegram too) and forget it."""
    from app import terminal_login

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    key = secret_key(settings)
    try:
        had = _run(terminal_login.logout(settings, key, instance))
    except terminal_login.Abort as exc:
        click.echo(f"tgw: {exc}", err=True)
        sys.exit(1)
    text = f"instance {instance}: logged out" if had else f"instance {instance}: no session"
    _echo({"instance": instance, "logged_out": had}, as_json, text)


@main.group()
def profile() -> None:
    """The account's profile: name, bio, picture."""


@profile.command("set")
@click.option("--instance", default=1, show_default=True, type=int)
@click.option("--first-name", default=None)
@click.option("--last-name", default=None)
@click.option("--about", default=None, help="The bio (at most 70 characters).")
@click.option(
    "--photo",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JPEG or PNG picture (resized to at most 1280 px).",
)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def profile_set(
    ctx: click.Context,
    instance: int,
    first_name: str | None,
    last_name: str | None,
    about: str | None,
    photo: Path | None,
    as_json: bool,
    sub_config: str | None,
) -> None:
    """Set the name, bio and/or picture (through the running gateway if there is one)."""
    from app import terminal_profile

    if first_name is None and last_name is None and about is None and photo is None:
        click.echo(
            "tgw: nothing to set (give --first-name, --last-name, --about or --photo)", err=True
        )
        sys.exit(2)
    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    token, _ = admin_token(settings)
    key = secret_key(settings)
    try:
        view = _run(
            terminal_profile.set_profile(
                settings,
                token,
                key,
                instance,
                first_name=first_name,
                last_name=last_name,
                about=about,
                photo=photo,
            )
        )
    except terminal_profile.ProfileFailure as exc:
        click.echo(f"tgw: {exc}", err=True)
        sys.exit(1)
    name = " ".join(p for p in (view.get("first_name"), view.get("last_name")) if p)
    _echo(view, as_json, f"instance {instance}: profile set ({name or 'no name'})")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def status(ctx: click.Context, as_json: bool, sub_config: str | None) -> None:
    """Show each instance's status and queue."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from app.models import Instance, Message

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)

    async def work(session: Any) -> list[dict[str, Any]]:
        rows = []
        for inst in await session.scalars(select(Instance).order_by(col(Instance.number))):
            counts = dict(
                (
                    await session.execute(
                        select(col(Message.status), func.count())
                        .where(col(Message.instance) == inst.number)
                        .group_by(col(Message.status))
                    )
                ).all()
            )
            rows.append(
                {
                    "number": inst.number,
                    "backend": inst.backend,
                    "status": inst.status,
                    "detail": inst.status_detail,
                    "phone": inst.phone,
                    "queue": counts,
                }
            )
        return rows

    rows = _run(_with_session(settings, work))
    lines = [
        f"instance {r['number']} ({r['backend']}): {r['status']}"
        f"{' - ' + r['detail'] if r['detail'] else ''}\n"
        f"  phone     {r['phone'] or '-'}\n"
        f"  messages  {_counts(r['queue'])}"
        for r in rows
    ]
    _echo(rows, as_json, "\n".join(lines) or "no instances yet (run tgw serve once)")


# The order a message goes through; a status not listed (none today) comes last.
_MESSAGE_STATUSES = ("queued", "sending", "sent", "read", "failed")


def _counts(by_status: dict[str, int]) -> str:
    """`{"sent": 3, "queued": 1}` as "1 queued, 3 sent"."""
    order = {name: place for place, name in enumerate(_MESSAGE_STATUSES)}
    parts = [
        f"{count} {name}"
        for name, count in sorted(by_status.items(), key=lambda kv: order.get(kv[0], 99))
    ]
    return ", ".join(parts) or "none yet"


@main.command()
@click.argument("number")
@click.argument("text")
@click.option("--instance", default=1, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def send(
    ctx: click.Context,
    number: str,
    text: str,
    instance: int,
    as_json: bool,
    sub_config: str | None,
) -> None:
    """Queue a text message to a registered NUMBER (the running gateway sends it)."""
    from app.db import SqlRunner, create_engine, create_session_factory, transaction
    from app.errors import ApiError
    from app.instances import sync_instances
    from app.queueing import Wakeup
    from outbound.accept import Enqueuer
    from outbound.requests import whatsmate_request
    from outbound.send_request import request_fingerprint

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)

    async def work() -> dict[str, Any]:
        engine = create_engine(settings.database.url)
        sql = SqlRunner(engine, None)
        try:
            factory = create_session_factory(engine)
            async with transaction(factory) as session:  # the instance rows, as serve makes them
                await sync_instances(session, settings, datetime.now(UTC))
            enqueuer = Enqueuer(
                sql,
                factory,
                settings,
                Wakeup(),
                lambda: datetime.now(UTC),
            )
            enqueuer.check_instance(instance)
            request = whatsmate_request(
                "single", "text", instance, {"number": number, "message": text}, settings.limits
            )
            _, body = await enqueuer.enqueue(
                "cli@localhost",
                request,
                idempotency_key=None,
                fingerprint=request_fingerprint("cli", text.encode()),
                render=lambda m: (200, {"status": "queued", "id": m["id"]}),
            )
            return body
        finally:
            await asyncio.to_thread(sql.close)
            await engine.dispose()

    try:
        body = _run(work())
    except ApiError as exc:
        click.echo(f"tgw: {exc.message} ({exc.status})", err=True)
        sys.exit(1)
    _echo(body, as_json, f"queued {body['id']}")


@main.group()
def recipients() -> None:
    """People who registered with the gateway."""


@recipients.command("list")
@click.option("--status", default="registered", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def recipients_list(ctx: click.Context, status: str, as_json: bool, sub_config: str | None) -> None:
    """List recipients (registered by default; pending, unregistered or all)."""
    from sqlalchemy import select
    from sqlmodel import col

    from app.models import Recipient

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)

    async def work(session: Any) -> list[dict[str, Any]]:
        query = select(Recipient)
        if status != "all":
            query = query.where(col(Recipient.status) == status)
        return [
            {
                "instance": r.instance,
                "number": r.number,
                "user_id": r.user_id,
                "name": " ".join(p for p in (r.first_name, r.last_name) if p),
                "language": r.language,
                "status": r.status,
            }
            for r in await session.scalars(query.order_by(col(Recipient.id)))
        ]

    rows = _run(_with_session(settings, work))
    lines = [
        f"{r['number'] or '-'}\t{r['status']}\t{r['language']}\t{r['name']}"
        f"\t(instance {r['instance']})"
        for r in rows
    ]
    _echo(rows, as_json, "\n".join(lines) or "no recipients")


@recipients.command("remove")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def recipients_remove(
    ctx: click.Context, number: str, as_json: bool, sub_config: str | None
) -> None:
    """Unregister NUMBER (sends to it get 472 until the person says Hi again)."""
    from app.recipients import unregister_number
    from outbound.validation import normalize_number

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    try:
        digits = normalize_number(number)
    except Exception as exc:  # an ApiError: said plainly, no traceback
        _fail(exc)
        return
    now = datetime.now(UTC)

    async def work(session: Any) -> int:
        return await unregister_number(session, digits, now, "removed_by_cli")

    removed = _run(_with_session(settings, work))
    if not removed:
        click.echo(f"tgw: {digits} is not a registered recipient", err=True)
        sys.exit(1)
    _echo({"number": digits, "status": "unregistered"}, as_json, f"{digits} unregistered")


if __name__ == "__main__":  # pragma: no cover
    main()
