"""`tgw clients ...`: API clients, through the functions the admin API uses (app/clients.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from app.cli.base import (
    _ctx,
    _echo,
    _fail,
    _migrate,
    _reading,
    _require_schema,
    _run,
    _with_session,
    config_option,
    main,
)


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
    _require_schema(settings)
    now = datetime.now(UTC)
    views = _run(_reading(settings, api.list_clients))
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
