"""`tgw send` and `tgw recipients ...`: the queue and the people, as the native API has them.

`send` goes through the API's own checks (outbound/accept.py); the recipients commands call
app/recipients.py (`unregister_number`, as DELETE /api/v1/recipients/{number} does, and
`find_recipients`).
"""

from __future__ import annotations

import sys
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
    from app.db import open_database
    from app.errors import ApiError
    from app.instances import sync_instances
    from app.queueing import Wakeup
    from outbound.accept import Enqueuer
    from outbound.requests import text_request
    from outbound.send_request import request_fingerprint

    settings = _ctx(ctx, sub_config).settings
    _migrate(settings)

    async def work() -> dict[str, Any]:
        database = open_database(settings.database.url)
        try:
            async with database.write() as session:  # the instance rows, as serve makes them
                await sync_instances(session, settings, datetime.now(UTC))
            enqueuer = Enqueuer(database, settings, Wakeup(), lambda: datetime.now(UTC))
            enqueuer.check_instance(instance)
            request = text_request(instance, number, text, settings.limits)
            _, body = await enqueuer.enqueue(
                "cli@localhost",
                request,
                idempotency_key=None,
                fingerprint=request_fingerprint("cli", text.encode()),
                render=lambda m: (200, {"status": "queued", "id": m["id"]}),
            )
            return body
        finally:
            await database.close()

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
    from app.recipients import find_recipients

    settings = _ctx(ctx, sub_config).settings
    _require_schema(settings)

    async def work(session: Any) -> list[dict[str, Any]]:
        return [
            {
                "instance": r.instance,
                "number": r.number,
                "user_id": r.user_id,
                "name": " ".join(p for p in (r.first_name, r.last_name) if p),
                "language": r.language,
                "status": r.status,
            }
            for r in await find_recipients(session, status)
        ]

    rows = _run(_reading(settings, work))
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
