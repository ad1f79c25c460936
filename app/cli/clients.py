"""`tgw clients ...`: API clients, through the functions the admin API uses (app/clients.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


SCOPE_HELP = "A scope the key gets (send, read, recipients, events); repeat it. Default: all."
INSTANCE_HELP = "An instance the key may use; repeat it. Default: all."
QUOTA_HELP = "The client's own messages a day, besides [limits] messages_per_day."
IP_HELP = "An address or CIDR network the key may be used from; repeat it. Default: any."


def _limits(
    known: list[int],
    base: Any,
    scopes: tuple[str, ...],
    instances: tuple[int, ...],
    daily_quota: int | None,
    ip_allow: tuple[str, ...],
) -> Any:
    """`base` (app.client_limits.Limits) with the limits given on the command line."""
    from app.client_limits import (
        Limits,
        check_instances,
        check_networks,
        check_quota,
        check_scopes,
    )

    return Limits(
        check_scopes(scopes) if scopes else base.scopes,
        check_instances(instances, known) if instances else base.instances,
        check_quota(daily_quota) if daily_quota is not None else base.daily_quota,
        check_networks(ip_allow) if ip_allow else base.ip_allow,
    )


def _summary(row: dict[str, Any]) -> str:
    def listed(value: list[object] | None, everything: str) -> str:
        return ",".join(str(v) for v in value) if value is not None else everything

    return "\t".join(
        [
            row["client_id"],
            row["state"],
            f"expires {row['expires_at'] or 'never'}",
            f"scopes {listed(row['scopes'], 'all')}",
            f"instances {listed(row['instances'], 'all')}",
            f"quota {row['daily_quota'] or '-'}",
            f"ip {listed(row['ip_allow'], 'any')}",
            f"last used {row['last_used_at'] or 'never'}",
        ]
    )


@clients.command("create")
@click.argument("client_id")
@click.option("--expires", default=None, help="Expiry, ISO 8601 (e.g. 2027-12-31).")
@click.option("--scope", "scopes", multiple=True, help=SCOPE_HELP)
@click.option("--instance", "instances", multiple=True, type=int, help=INSTANCE_HELP)
@click.option("--daily-quota", type=int, default=None, help=QUOTA_HELP)
@click.option("--ip-allow", multiple=True, help=IP_HELP)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def clients_create(
    ctx: click.Context,
    client_id: str,
    expires: str | None,
    scopes: tuple[str, ...],
    instances: tuple[int, ...],
    daily_quota: int | None,
    ip_allow: tuple[str, ...],
    as_json: bool,
    sub_config: str | None,
) -> None:
    """Create a client; its secret is shown once."""
    from app import clients as api
    from app.client_limits import Limits

    settings = _ctx(ctx, sub_config).settings
    now = datetime.now(UTC)
    try:
        known = [i.number for i in settings.instances]
        limits = _limits(known, Limits(), scopes, instances, daily_quota, ip_allow)
        _migrate(settings)
        view, secret = _run(
            _with_session(
                settings,
                lambda s: api.create_client(s, client_id, _parse_expiry(expires), now, limits),
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
    _echo(rows, as_json, "\n".join(_summary(r) for r in rows) or "no API clients")


@clients.command("update")
@click.argument("client_id")
@click.option("--scope", "scopes", multiple=True, help="Replaces the key's scopes; repeat it.")
@click.option("--all-scopes", is_flag=True, help="Give the key every scope.")
@click.option("--instance", "instances", multiple=True, type=int, help="Replaces its instances.")
@click.option("--all-instances", is_flag=True, help="Let the key use every instance.")
@click.option("--daily-quota", type=int, default=None, help=QUOTA_HELP)
@click.option("--no-daily-quota", is_flag=True, help="Only [limits] messages_per_day applies.")
@click.option("--ip-allow", multiple=True, help="Replaces its IP allow-list; repeat it.")
@click.option("--any-ip", is_flag=True, help="Let the key be used from any address.")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def clients_update(
    ctx: click.Context,
    client_id: str,
    scopes: tuple[str, ...],
    all_scopes: bool,
    instances: tuple[int, ...],
    all_instances: bool,
    daily_quota: int | None,
    no_daily_quota: bool,
    ip_allow: tuple[str, ...],
    any_ip: bool,
    as_json: bool,
    sub_config: str | None,
) -> None:
    """Change what a client's key may do; what is not given stays. The secret stays too.
    A running gateway applies the change within a few seconds."""
    from dataclasses import replace

    from app import clients as api

    settings = _ctx(ctx, sub_config).settings
    known = [i.number for i in settings.instances]
    now = datetime.now(UTC)

    async def change(session: Any) -> Any:
        current = (await api.get_client(session, client_id)).limits
        limits = _limits(known, current, scopes, instances, daily_quota, ip_allow)
        lifted = {
            "scopes": all_scopes,
            "instances": all_instances,
            "daily_quota": no_daily_quota,
            "ip_allow": any_ip,
        }
        limits = replace(limits, **{name: None for name, lift in lifted.items() if lift})
        return await api.update_client(session, client_id, limits, None, now)

    try:
        _migrate(settings)
        view = _run(_with_session(settings, change))
    except Exception as exc:
        _fail(exc)
        return
    _echo(view.as_dict(now), as_json, _summary(view.as_dict(now)))


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
