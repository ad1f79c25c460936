"""`tgw queue pause|resume N`: hold or release an instance's send queue from the shell.

The same change as POST /admin/instances/{n}/queue/pause|resume (outbound/queue_pause.py),
written to the database: a running `tgw serve` stops claiming at once after a pause, and picks
the queue up again at its next poll (a few seconds) after a resume.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from app.cli.base import _ctx, _echo, _migrate, _run, config_option, main


@main.group()
def queue() -> None:
    """An instance's send queue."""


def _set(
    ctx: click.Context, instance: int, paused: bool, as_json: bool, config: str | None
) -> None:
    from app.db import open_database
    from app.errors import ApiError
    from app.instances import sync_instances
    from app.timestamps import iso_or_none
    from outbound.queue_pause import set_queue_paused

    settings = _ctx(ctx, config).settings
    _migrate(settings)

    async def work() -> dict[str, Any]:
        if settings.instance(instance) is None:
            raise ApiError("unknown_instance", f"Invalid gateway instance number {instance}")
        database = open_database(settings.database.url)
        try:
            now = datetime.now(UTC)
            async with database.write() as session:  # the instance rows, as serve makes them
                await sync_instances(session, settings, now)
            row = await set_queue_paused(database, instance, paused, now)
        finally:
            await database.close()
        return {"instance": instance, "queue_paused_at": iso_or_none(row.queue_paused_at)}

    try:
        body = _run(work())
    except ApiError as exc:
        click.echo(f"tgw: {exc.message} ({exc.status})", err=True)
        sys.exit(1)
    since = body["queue_paused_at"]
    _echo(
        body, as_json, f"instance {instance}: " + (f"paused since {since}" if since else "running")
    )


@queue.command("pause")
@click.argument("instance", type=int)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def queue_pause(ctx: click.Context, instance: int, as_json: bool, sub_config: str | None) -> None:
    """Send nothing more for INSTANCE (sends are still accepted and kept) until resumed."""
    _set(ctx, instance, True, as_json, sub_config)


@queue.command("resume")
@click.argument("instance", type=int)
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def queue_resume(ctx: click.Context, instance: int, as_json: bool, sub_config: str | None) -> None:
    """Let INSTANCE's queue go on after `tgw queue pause`."""
    _set(ctx, instance, False, as_json, sub_config)
