"""`tgw recipients reachability`: what the gateway's records say about messaging a number.

The command line does not hold the instance's Telegram session (the running `tgw serve` does),
so it answers from the stored facts only (outbound/reach.py with no backend): registrations,
what sends found and Telegram's answers kept by earlier checks. It never writes.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from app.cli.base import _ctx, _echo, _require_schema, _run, config_option
from app.cli.messaging import recipients

NOT_ASKED = (
    "Telegram is not asked from the command line (GET /api/v1/recipients/{number}/reachability"
    " asks it)"
)


@recipients.command("reachability")
@click.argument("number")
@click.option("--instance", default=1, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def recipients_reachability(
    ctx: click.Context, number: str, instance: int, as_json: bool, sub_config: str | None
) -> None:
    """Whether NUMBER can be messaged, from the gateway's records (Telegram is not asked)."""
    from app.db import open_database
    from app.errors import ApiError
    from app.timestamps import iso
    from outbound.reach import check_reachability
    from outbound.validation import normalize_number

    settings = _ctx(ctx, sub_config).settings
    _require_schema(settings)

    async def work() -> dict[str, Any]:
        if settings.instance(instance) is None:
            raise ApiError("unknown_instance", f"Invalid gateway instance number {instance}")
        digits = normalize_number(number)
        database = open_database(settings.database.url)
        try:
            now = datetime.now(UTC)
            (answer,) = await check_reachability(
                database, None, instance, [digits], now, no_backend=NOT_ASKED
            )
        finally:
            await database.close()
        return {
            "instance": instance,
            "number": answer.number,
            "reachability": answer.reachability,
            "checked_at": iso(answer.checked_at),
            "source": answer.source,
            "detail": answer.detail,
        }

    try:
        body = _run(work())
    except ApiError as exc:
        click.echo(f"tgw: {exc.message} ({exc.status})", err=True)
        sys.exit(1)
    _echo(body, as_json, f"{body['number']}\t{body['reachability']}\t{body['detail']}")
