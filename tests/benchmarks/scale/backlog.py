"""Part backlog: accept and drain rates with a million messages queued, against a small queue.

Rows are filled with COPY (asyncpg) while no worker runs, made by app.queueing.message_row as
the accept path makes them (a WhatsMate text to a registered number of sandbox instance 1).
Then the worker starts and two windows are measured: the drain alone (no HTTP load), and the
accept rate of the api process while the worker keeps draining (its drain rate then too).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.queueing import message_row
from tests.benchmarks.scale.common import (
    CLIENT_ID,
    RECIPIENT,
    Fleet,
    Spread,
    create_client,
    describe,
    fresh_pg_database,
    loadavg,
    machine,
    register,
    sa_url,
    send_path,
    serve_args,
    table,
    wait_for,
    workdir,
    write_config,
)

CHUNK = 50_000


async def fill(url: str, count: int, tag: str) -> float:
    """COPY `count` queued rows into `message`; seconds taken."""
    t0 = time.perf_counter()
    columns = list(message_row(instance=1, kind="text", now=datetime.now(UTC)))
    conn = await asyncpg.connect(url)
    try:
        done = 0
        while done < count:
            now = datetime.now(UTC)
            size = min(CHUNK, count - done)
            records = [
                tuple(
                    message_row(
                        instance=1,
                        kind="text",
                        now=now,
                        client_id=CLIENT_ID,
                        to_number=RECIPIENT,
                        text=f"{tag} {done + i}",
                    ).values()
                )
                for i in range(size)
            ]
            await conn.copy_records_to_table("message", records=records, columns=columns)
            done += size
        await conn.execute("ANALYZE message")
    finally:
        await conn.close()
    return time.perf_counter() - t0


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM message GROUP BY status")
    finally:
        await conn.close()
    return {r["status"]: int(r["n"]) for r in rows}


async def sent_between(url: str, since: datetime, until: datetime) -> int:
    conn = await asyncpg.connect(url)
    try:
        found: Any = await conn.fetchval(
            "SELECT count(*) FROM message WHERE status = 'sent' AND sent_at >= $1 AND sent_at < $2",
            since,
            until,
        )
    finally:
        await conn.close()
    return int(found)


async def measure(
    url: str, spread: Spread, window: float, label: str
) -> tuple[float, float, float, str]:
    """(drain/s alone, accept/s, drain/s while accepting, accept details)."""
    t0 = datetime.now(UTC)
    await asyncio.sleep(window)
    t1 = datetime.now(UTC)
    drain_alone = await sent_between(url, t0, t1) / (t1 - t0).total_seconds()
    print(f"  {label}: drain alone {drain_alone:,.0f}/s", flush=True)
    t2 = datetime.now(UTC)
    run, _ = await spread.run(window, label)
    t3 = datetime.now(UTC)
    drain_busy = await sent_between(url, t2, t3) / (t3 - t2).total_seconds()
    print(f"  {label}: accept {describe(run)}; drain meanwhile {drain_busy:,.0f}/s", flush=True)
    return drain_alone, run.rate, drain_busy, f"{run.percentile_ms(99):.1f}"


async def backlog(args: argparse.Namespace) -> None:
    big = args.backlog or (100_000 if args.quick else 1_000_000)
    window = 10.0 if args.quick else 25.0
    small = 20_000 if args.quick else 50_000
    concurrency = args.concurrency
    print(f"\n# backlog: {machine()}; {big:,} vs {small:,} queued, {window:.0f} s windows")
    rows: list[list[str]] = []
    results: dict[str, tuple[float, float, float, str]] = {}
    async with (
        workdir(args.tmpdir, args.keep, "backlog") as wd,
        fresh_pg_database("backlog") as url,
    ):
        config = write_config(
            wd / "tgw.toml", sa_url(url), instances=[{"number": 1, "backend": "sandbox"}]
        )
        fleet = Fleet(wd)
        try:
            worker = await fleet.start("worker", serve_args(config, "worker"))
            api = await fleet.start("api", serve_args(config, "api"))
            headers = await create_client(api)
            await register(api, 1)

            async def replied() -> bool:
                return (await counts(url)).get("sent", 0) >= 1

            await wait_for("the registration reply", replied, 30)
            spread = Spread("accept", [api], headers, concurrency, [send_path(1)])
            for name, size in (("small", small), ("big", big)):
                await fleet.stop(worker)
                queued_before = (await counts(url)).get("queued", 0)
                took = await fill(url, size, name)
                queued = queued_before + size
                print(f"  {name}: {size:,} rows filled in {took:.1f} s", flush=True)
                worker = await fleet.start("worker", serve_args(config, "worker"))

                async def draining(queued: int = queued) -> bool:
                    return (await counts(url)).get("queued", 0) < queued

                await wait_for("the worker to start sending", draining, 60)
                await asyncio.sleep(2.0)
                results[name] = await measure(url, spread, window, f"{name} ({queued:,} queued)")
                left = await counts(url)
                rows.append(
                    [
                        f"{queued:,} queued at the start",
                        f"{results[name][0]:,.0f}",
                        f"{results[name][1]:,.0f}",
                        results[name][3],
                        f"{results[name][2]:,.0f}",
                        f"{left.get('queued', 0):,}",
                        loadavg(),
                    ]
                )
        finally:
            await fleet.stop_all()
    small_r, big_r = results["small"], results["big"]
    rows.append(
        [
            "big / small",
            f"{big_r[0] / small_r[0]:.0%}" if small_r[0] else "-",
            f"{big_r[1] / small_r[1]:.0%}" if small_r[1] else "-",
            "",
            f"{big_r[2] / small_r[2]:.0%}" if small_r[2] else "-",
            "",
            "",
        ]
    )
    table(
        f"backlog (PostgreSQL, 1 api + 1 worker, unpaced sandbox; {window:.0f} s windows; "
        f"{machine()})",
        [
            "queue",
            "drain/s alone",
            "accept/s",
            "accept p99 ms",
            "drain/s while accepting",
            "queued after",
            "load",
        ],
        rows,
    )
    print("  target: with the backlog, within 20% of the small queue's rates")
