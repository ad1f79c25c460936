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
    """Show each instance's status, queue and the process holding its session."""
    from app.cluster.view import cluster_view, read_cluster
    from app.instances import list_instances, queue_counts
    from app.timestamps import iso_or_none

    settings = _ctx(ctx, sub_config).settings
    _require_schema(settings)

    async def work(session: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        cluster = cluster_view(await read_cluster(session), None)
        processes = {p["id"]: p for p in cluster["processes"]}
        holders = {i["number"]: processes.get(i["holder"] or "") for i in cluster["instances"]}
        rows = [
            {
                "number": inst.number,
                "backend": inst.backend,
                "status": inst.status,
                "detail": inst.status_detail,
                "phone": inst.phone,
                "queue": await queue_counts(session, inst.number),
                "queue_paused_at": iso_or_none(inst.queue_paused_at),
                "session_holder": _holder(cluster, inst.number, holders.get(inst.number)),
            }
            for inst in await list_instances(session)
        ]
        return rows, cluster

    rows, cluster = _run(_reading(settings, work))
    lines = [
        f"instance {r['number']} ({r['backend']}): {r['status']}"
        f"{' - ' + r['detail'] if r['detail'] else ''}\n"
        f"  phone     {r['phone'] or '-'}\n"
        f"  messages  {_counts(r['queue'])}"
        + (f"\n  queue     paused since {r['queue_paused_at']}" if r["queue_paused_at"] else "")
        + f"\n  session   {_held(r['session_holder'])}"
        for r in rows
    ]
    lines += _process_lines(cluster)
    _echo(rows, as_json, "\n".join(lines) or "no instances yet (run tgw serve once)")


def _holder(
    cluster: dict[str, Any], number: int, process: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Who holds the instance's session: the process (if registered) or the lease's owner."""
    lease = next(i for i in cluster["instances"] if i["number"] == number)
    if lease["holder"] is None:
        return None
    found = process or {}
    return {
        "id": lease["holder"],
        "host": found.get("host"),
        "pid": found.get("pid"),
        "role": found.get("role"),
        "address": found.get("address"),
    }


def _held(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "held by no process"
    where = f"{holder['host']} pid {holder['pid']}" if holder["host"] else "an unregistered process"
    return f"held by {where} ({holder['id']})"


def _process_lines(cluster: dict[str, Any]) -> list[str]:
    """The live processes (more than one: a deployment worth showing)."""
    live = [p for p in cluster["processes"] if p["live"]]
    if len(live) < 2:
        return []
    lines = [f"processes (fair share {cluster['fair_share']} instances per worker)"]
    for p in live:
        held = ", ".join(str(n) for n in p["instances"]) or "none"
        lines.append(f"  {p['host']} pid {p['pid']} ({p['role']}): instances {held}")
    return lines


def _counts(by_status: dict[str, int]) -> str:
    """`{"sent": 3, "queued": 1}` as "1 queued, 3 sent"."""
    # The order a message goes through (the vocabulary's); a status not listed comes last.
    order = {str(name): place for place, name in enumerate(MessageStatus)}
    parts = [
        f"{count} {name}"
        for name, count in sorted(by_status.items(), key=lambda kv: order.get(kv[0], 99))
    ]
    return ", ".join(parts) or "none yet"
