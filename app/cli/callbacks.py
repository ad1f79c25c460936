"""`tgw clients callback-secret`: an API client's callback signing secret, through the
functions the admin API uses (inbound/webhooks/callback_secrets.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from app.cli.base import (
    _ctx,
    _echo,
    _fail,
    _migrate,
    _run,
    _with_session,
    config_option,
    secret_key,
)
from app.cli.clients import clients


@clients.command("callback-secret")
@click.argument("client_id")
@click.option("--rotate", is_flag=True, help="Make a new one (the old one signs for 24 h more).")
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def clients_callback_secret(
    ctx: click.Context, client_id: str, rotate: bool, as_json: bool, sub_config: str | None
) -> None:
    """Print the secret that signs a client's callbacks (made on first use)."""
    from sqlalchemy import select
    from sqlmodel import col

    from app.errors import ApiError
    from app.models import ApiClient
    from app.timestamps import iso_or_none
    from inbound.webhooks.callback_secrets import read_secret, rotate_secret
    from inbound.webhooks.endpoints import SecretBox

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)
    box = SecretBox.from_secret_key(secret_key(settings))
    now = datetime.now(UTC)
    work = rotate_secret if rotate else read_secret

    async def run(session: Any) -> Any:
        found = await session.scalar(
            select(col(ApiClient.id)).where(col(ApiClient.client_id) == client_id)
        )
        if found is None:
            raise ApiError("not_found", f"No client {client_id!r}")
        return await session.run_sync(lambda s: work(s.connection(), box, client_id, now))

    try:
        secret = _run(_with_session(settings, run))
    except Exception as exc:
        _fail(exc)
        return
    until = iso_or_none(secret.previous_secret_until)
    _echo(
        {"client_id": client_id, "secret": secret.secret, "previous_secret_until": until},
        as_json,
        f"client_id:       {client_id}\ncallback_secret: {secret.secret}"
        + (f"\n(the previous secret signs too until {until})" if until else ""),
    )
