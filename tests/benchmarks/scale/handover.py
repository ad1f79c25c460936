"""Part handover: a worker killed (-9) under a steady send load.

An api process and two worker processes share N sandbox instances on one PostgreSQL database.
Messages go out at a fixed rate through the api process, spread over the instances. One worker
is killed; GET /admin/cluster on the survivor is polled until every instance is held again.
Afterwards, from the database: each message's delay (accepted -> sent, the server's own
`created_at` and `sent_at`) for the killed worker's instances during the outage against the
others, and whether every accepted message was sent exactly once (the sandbox's sent log).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from tests.benchmarks.bench_send import CLIENT_ERRORS, RawConnection, Server
from tests.benchmarks.scale.common import (
    CLIENT_ID,
    RECIPIENT,
    Fleet,
    admin_get,
    create_client,
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

INSTANCES = 8
RATE = 100.0  # messages a second through the api process


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


class Load:
    """Open loop: RATE sends a second through `api`, instance 1 + i mod N, until stopped."""

    def __init__(self, api: Server, headers: dict[str, str]) -> None:
        self.api = api
        self.headers = {**headers, "Content-Type": "application/json"}
        self.accepted: list[str] = []
        self.failed: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        idle: asyncio.Queue[RawConnection] = asyncio.Queue()
        conns = [RawConnection(self.api) for _ in range(16)]
        for conn in conns:
            idle.put_nowait(conn)
        tasks: list[asyncio.Task[None]] = []

        async def one(index: int) -> None:
            text = f"h {index}"
            conn = await idle.get()
            try:
                body = orjson.dumps({"number": RECIPIENT, "message": text})
                path = send_path(1 + index % INSTANCES)
                status, _ = await conn.request("POST", path, self.headers, body)
                (self.accepted if status == 200 else self.failed).append(text)
            except CLIENT_ERRORS:
                await conn.reset()
                self.failed.append(text)
            finally:
                idle.put_nowait(conn)

        start = time.perf_counter()
        index = 0
        while not self._stop.is_set():
            delay = start + index / RATE - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                continue
            tasks.append(asyncio.create_task(one(index)))
            index += 1
        await asyncio.gather(*tasks)
        await asyncio.gather(*(c.close() for c in conns))

    def stop(self) -> None:
        self._stop.set()


def holders(cluster: dict[str, Any]) -> dict[int, str | None]:
    return {i["number"]: i["holder"] for i in cluster["instances"]}


async def one_run(args: argparse.Namespace, ttl: float) -> list[str]:
    async with (
        workdir(args.tmpdir, args.keep, "handover") as wd,
        fresh_pg_database("handover") as url,
    ):
        config = write_config(
            wd / "tgw.toml",
            sa_url(url),
            instances=[{"number": n, "backend": "sandbox"} for n in range(1, INSTANCES + 1)],
            sections={"telegram": {"lease_ttl_s": ttl}},
        )
        fleet = Fleet(wd)
        try:
            api = await fleet.start("api", serve_args(config, "api"))
            workers = [
                await fleet.start(f"worker{i}", serve_args(config, "worker")) for i in (1, 2)
            ]

            async def balanced() -> dict[str, Any] | None:
                cluster = await admin_get(workers[0], "/admin/cluster")
                held = [p for p in cluster["processes"] if p["instances"]]
                return cluster if not cluster["unowned"] and len(held) == 2 else None

            await wait_for("both workers to hold instances", balanced, 120, 0.5)
            headers = await create_client(api)
            for n in range(1, INSTANCES + 1):
                await register(api, n)

            async def replied() -> bool:
                return await _count(url, "SELECT count(*) FROM message WHERE status='sent'") >= (
                    INSTANCES
                )

            await wait_for("the registration replies", replied, 60)
            load = Load(api, headers)
            loader = asyncio.create_task(load.run())
            await asyncio.sleep(5.0)
            cluster = await admin_get(workers[0], "/admin/cluster")
            by_id = {p["id"]: p for p in cluster["processes"]}
            victim = next(p for p in by_id.values() if p["pid"] == workers[1].proc.pid)
            survivor = workers[0]
            lost_instances = sorted(victim["instances"])
            killed_at = datetime.now(UTC)
            t_kill = time.monotonic()
            os.kill(workers[1].proc.pid, signal.SIGKILL)
            workers[1].proc.wait()
            fleet.servers.remove(workers[1])

            async def all_held() -> bool:
                cluster = await admin_get(survivor, "/admin/cluster")
                mine = next(p["id"] for p in cluster["processes"] if p["this_process"])
                return all(h == mine for h in holders(cluster).values())

            await wait_for("the survivor to hold every instance", all_held, 10 * ttl + 60, 0.1)
            reheld_s = time.monotonic() - t_kill
            reheld_at = datetime.now(UTC)
            print(f"  lease_ttl_s {ttl:g}: every instance held again after {reheld_s:.1f} s")
            await asyncio.sleep(5.0)
            load.stop()
            await loader

            async def drained() -> bool:
                q = "SELECT count(*) FROM message WHERE status IN ('queued', 'sending')"
                return await _count(url, q) == 0

            await wait_for("the queue to empty", drained, 120, 0.5)
            return await report(url, load, lost_instances, killed_at, reheld_at, reheld_s, ttl)
        finally:
            await fleet.stop_all()


async def _count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def report(
    url: str,
    load: Load,
    lost: list[int],
    killed_at: datetime,
    reheld_at: datetime,
    reheld_s: float,
    ttl: float,
) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT text, instance, status, created_at, sent_at FROM message WHERE client_id = $1",
            CLIENT_ID,
        )
        out = await conn.fetch(
            "SELECT text, count(*) AS n FROM sandbox_message WHERE direction = 'out' "
            "AND text LIKE 'h %' GROUP BY text"
        )
    finally:
        await conn.close()
    by_text = {r["text"]: r for r in rows}
    sent_times = {r["text"]: int(r["n"]) for r in out}
    missing = [t for t in load.accepted if by_text.get(t) is None or by_text[t]["status"] != "sent"]
    twice = [t for t, n in sent_times.items() if n > 1]
    not_accepted_but_sent = [t for t in sent_times if t not in set(load.accepted)]
    never_out = [t for t in load.accepted if sent_times.get(t, 0) == 0]

    def delays(on_lost: bool, during: bool) -> list[float]:
        found = []
        for r in rows:
            if r["sent_at"] is None:
                continue
            in_outage = killed_at <= r["created_at"] <= reheld_at
            if (r["instance"] in lost) == on_lost and in_outage == during:
                found.append((r["sent_at"] - r["created_at"]).total_seconds())
        return found

    groups = [
        ("killed worker's instances, accepted during the outage", delays(True, True)),
        ("the survivor's instances, accepted during the outage", delays(False, True)),
        ("every instance, accepted outside the outage", delays(True, False) + delays(False, False)),
    ]
    print(
        f"  ttl {ttl:g}: {len(load.accepted)} accepted, {len(load.failed)} refused or failed; "
        f"{len(missing)} not sent, {len(never_out)} not in the sandbox's log, {len(twice)} sent "
        f"twice, {len(not_accepted_but_sent)} sent without a 200",
        flush=True,
    )
    lines = []
    for label, values in groups:
        lines.append(
            f"{ttl:g}|{label}|{len(values)}|{pct(values, 50):.2f}|{pct(values, 99):.2f}|"
            f"{max(values) if values else float('nan'):.2f}"
        )
    lines.append(
        f"{ttl:g}|summary|re-held after {reheld_s:.1f} s (instances {lost})|accepted "
        f"{len(load.accepted)}, refused {len(load.failed)}|lost {len(missing)}|twice {len(twice)}"
    )
    return lines


async def handover(args: argparse.Namespace) -> None:
    ttls = [10.0] if args.quick else [10.0, 30.0]
    print(f"\n# handover: {machine()}; {INSTANCES} sandbox instances, {RATE:.0f} sends/s")
    rows: list[list[str]] = []
    summaries: list[str] = []
    for ttl in ttls:
        for line in await one_run(args, ttl):
            parts = line.split("|")
            if parts[1] == "summary":
                summaries.append(f"lease_ttl_s {parts[0]}: " + "; ".join(parts[2:]))
            else:
                rows.append([*parts, loadavg()])
    table(
        f"handover (PostgreSQL, 1 api + 2 workers, one killed -9; {machine()})",
        ["ttl s", "messages", "count", "p50 s", "p99 s", "max s", "load"],
        rows,
    )
    for line in summaries:
        print(f"  {line}")
