"""`tgw status`: each instance's status and queue (it only reads: app/instances.py)."""

from __future__ import annotations

from typing import Any

import click

from app.cli.base import _ctx, _echo, _reading, _require_schema, _run, config_option, main
from app.vocabulary import MessageStatus


@main.command()
@click.option("--json", "as_json", is_flag=True)
@config_option
@click.pass_context
def status(ctx: click.Context, as_json: bool, sub_config: str | None) -> None:
    """Show each instance's status and queue."""
    from app.instances import list_instances, queue_counts
    from app.timestamps import iso_or_none

    settings = _ctx(ctx, sub_config).settings
    _require_schema(settings)

    async def work(session: Any) -> list[dict[str, Any]]:
        return [
            {
                "number": inst.number,
                "backend": inst.backend,
                "status": inst.status,
                "detail": inst.status_detail,
                "phone": inst.phone,
                "queue": await queue_counts(session, inst.number),
                "queue_paused_at": iso_or_none(inst.queue_paused_at),
            }
            for inst in await list_instances(session)
        ]

    rows = _run(_reading(settings, work))
    lines = [
        f"instance {r['number']} ({r['backend']}): {r['status']}"
        f"{' - ' + r['detail'] if r['detail'] else ''}\n"
        f"  phone     {r['phone'] or '-'}\n"
        f"  messages  {_counts(r['queue'])}"
        + (f"\n  queue     paused since {r['queue_paused_at']}" if r["queue_paused_at"] else "")
        for r in rows
    ]
    _echo(rows, as_json, "\n".join(lines) or "no instances yet (run tgw serve once)")


def _counts(by_status: dict[str, int]) -> str:
    """`{"sent": 3, "queued": 1}` as "1 queued, 3 sent"."""
    # The order a message goes through (the vocabulary's); a status not listed comes last.
    order = {str(name): place for place, name in enumerate(MessageStatus)}
    parts = [
        f"{count} {name}"
        for name, count in sorted(by_status.items(), key=lambda kv: order.get(kv[0], 99))
    ]
    return ", ".join(parts) or "none yet"
