"""Parts accept-pg and sqlite-accept: the accept path against the cost of a durable insert."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from tests.benchmarks.bench_send import Run, Server, open_loop, send_body
from tests.benchmarks.scale.common import (
    ADMIN,
    NATIVE_PATH,
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
)
from tests.benchmarks.scale.group_writer import GroupWriter, app_row, sqlite_values

SANDBOX = [{"number": 1, "backend": "sandbox"}]
BENCH_SEND = Path(__file__).resolve().parents[1] / "bench_send.py"


async def bare_starlette(fleet: Fleet, wd: Path, concurrency: int, window: float, path: str) -> Run:
    """bench_send.py's baseline server (one uvicorn process as `tgw serve` runs it): POST
    /nodb parses the body and answers (the HTTP ceiling of one Python process with this load
    generator); POST /insert adds one INSERT in a transaction of its own (app.db's engine)."""
    db = f"sqlite:///{wd / 'bare.db'}"
    server = await fleet.start("bare", [str(BENCH_SEND), "--serve-baseline", "--db", db])
    try:
        spread = Spread(path, [server], {}, concurrency, [path])
        await spread.run(2.0, "warm")
        run, _ = await spread.run(window, "bare")
    finally:
        await fleet.stop(server)
    print(f"  bare Starlette {path}: {describe(run)}", flush=True)
    return run


def native_body(index: int) -> bytes:
    return orjson.dumps({"to": RECIPIENT, "text": f"latency {index}"})


async def raw_pg_inserts(url: str, concurrency: int, duration_s: float) -> tuple[float, float]:
    """Plain asyncpg: `concurrency` connections, each INSERTing one message row per
    transaction (autocommit: one commit, one WAL flush, per row). (rows/s, p99 ms)."""
    columns = list(app_row(0))
    sql = (
        f"INSERT INTO message ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})"
    )
    conns = [await asyncpg.connect(url) for _ in range(concurrency)]
    latencies: list[float] = []
    count = 0
    stop_at = time.perf_counter() + duration_s

    async def worker(conn: asyncpg.Connection) -> None:
        nonlocal count
        statement = await conn.prepare(sql)
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            await statement.fetch(*app_row(count).values())
            latencies.append(time.perf_counter() - t0)
            count += 1

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    p99 = 1000 * latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    return count / elapsed, p99


async def accept_pg(args: argparse.Namespace) -> None:
    window = 8.0 if args.quick else 20.0
    concurrency = args.concurrency
    print(f"\n# accept-pg: {machine()}; {concurrency} connections, {window:.0f} s windows")
    print("  the load generator (this process) runs on the same 2 cores as the servers")
    rows: list[list[str]] = []
    async with (
        workdir(args.tmpdir, args.keep, "accept") as wd,
        fresh_pg_database("accept") as url,
    ):
        config = wd / "tgw.toml"
        from tests.benchmarks.scale.common import write_config

        write_config(config, sa_url(url), instances=SANDBOX)
        fleet = Fleet(wd)
        try:
            # One worker registers the recipient, then leaves: the api processes only accept.
            worker = await fleet.start("setup-worker", serve_args(config, "worker"))
            headers = await create_client(worker)
            await register(worker, 1)

            async def replied() -> bool:
                return await _sent_count(url) >= 1

            await wait_for("the registration reply", replied, 30)
            await fleet.stop(worker)
            raw_before, raw_p99 = await raw_pg_inserts(url, concurrency, window)
            rows.append(
                [
                    "raw asyncpg INSERT, 1 commit/row",
                    f"{raw_before:,.0f}",
                    f"{raw_p99:.1f}",
                    "",
                    "",
                    loadavg(),
                ]
            )
            print(f"  raw asyncpg: {raw_before:,.0f} rows/s", flush=True)
            bare = await bare_starlette(fleet, wd, concurrency, window, "/nodb")
            rows.append(
                [
                    "bare Starlette, no database (1 process)",
                    f"{bare.rate:,.0f}",
                    f"{bare.percentile_ms(99):.1f}",
                    "",
                    f"{bare.client_cpu_pct:.0f}% / {bare.server_cpu_pct:.0f}%",
                    loadavg(),
                ]
            )
            apis: list[Server] = []
            for count in (1, 2, 4):
                while len(apis) < count:
                    apis.append(await fleet.start("api", serve_args(config, "api")))
                for native in (False, True):
                    surface = "native /api/v1/messages" if native else "WhatsMate v3 text"
                    spread = Spread(f"{count} api", apis, headers, concurrency, native=native)
                    await spread.run(2.0, f"warm{count}")
                    run, _ = await spread.run(window, f"accept{count}")
                    print(f"  {count} api process(es), {surface}: {describe(run)}", flush=True)
                    rows.append(
                        [
                            f"{count} x tgw serve --role api, {surface}",
                            f"{run.rate:,.0f}",
                            f"{run.percentile_ms(99):.1f}",
                            f"{run.rate / raw_before:.0%}",
                            f"{run.client_cpu_pct:.0f}% / {run.server_cpu_pct:.0f}%",
                            loadavg(),
                        ]
                    )
            raw_after, raw_p99 = await raw_pg_inserts(url, concurrency, window)
            rows.append(
                [
                    "raw asyncpg INSERT (again, after)",
                    f"{raw_after:,.0f}",
                    f"{raw_p99:.1f}",
                    "",
                    "",
                    loadavg(),
                ]
            )
        finally:
            await fleet.stop_all()
    table(
        f"accept-pg (PostgreSQL, {concurrency} connections, {window:.0f} s; {machine()})",
        ["what", "accepted/s", "p99 ms", "vs raw", "CPU gen / servers", "load"],
        rows,
    )


async def _sent_count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM message WHERE status = 'sent'"))
    finally:
        await conn.close()


# --- SQLite ---


async def raw_sqlite(path: Path, concurrency: int, duration_s: float) -> tuple[float, float]:
    """`concurrency` callers in this process, each inserting one queue row at a time through
    the group-commit writer thread. (rows/s, p99 ms)."""
    writer = GroupWriter(path, list(app_row(0)))
    latencies: list[float] = []
    count = 0
    stop_at = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            values = sqlite_values(app_row(count))
            t0 = time.perf_counter()
            await writer.insert(values)
            latencies.append(time.perf_counter() - t0)
            count += 1

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await asyncio.to_thread(writer.close)
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return count / elapsed, 1000 * latencies[int(len(latencies) * 0.99)]


def copy_schema(source: Path, target: Path) -> None:
    """An empty `message` table as the gateway's own (same columns and indexes)."""
    with contextlib.closing(sqlite3.connect(source)) as src:
        ddl = [
            sql
            for (sql,) in src.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'message' AND sql IS NOT NULL"
            )
        ]
    with contextlib.closing(sqlite3.connect(target)) as dst:
        for sql in ddl:
            dst.execute(sql)
        dst.commit()


async def queued(server: Any) -> int:
    """Instance 1's queued and sending messages, from the gateway's /metrics."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith('tgw_queue_messages{instance="1"') and (
            'status="queued"' in line or 'status="sending"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


async def _empty(server: Any) -> bool:
    return await queued(server) == 0


async def drain(server: Any) -> None:
    """Wait for instance 1's queue to empty (the worker sends what the last window left)."""
    backlog = await queued(server)
    began = time.monotonic()
    await wait_for("the queue to drain", lambda: _empty(server), timeout_s=600)
    if backlog:
        print(f"  {backlog:,} queued drained in {time.monotonic() - began:.0f} s", flush=True)


async def pause_queue(server: Any, paused: bool) -> None:
    """POST /admin/instances/1/queue/pause (or /resume): a paused queue is not sent, so the
    gateway does nothing but accept (the raw baseline only inserts)."""
    action = "pause" if paused else "resume"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.post(f"/admin/instances/1/queue/{action}", headers=ADMIN)
    if response.status_code != 200:
        raise RuntimeError(f"queue {action}: {response.status_code} {response.text}")


@dataclass
class Repeated:
    """The same closed-loop window run several times: the machine's own noise (page cache,
    fsync times, other tenants) moves a single window by tens of percent."""

    rates: list[float]
    median: Run | None = None  # the run of the median rate (its latencies and CPU)

    @classmethod
    def of(cls, runs: list[Run]) -> Repeated:
        ordered = sorted(runs, key=lambda r: r.rate)
        return cls([r.rate for r in runs], ordered[len(ordered) // 2])

    @property
    def rate(self) -> float:
        return sorted(self.rates)[len(self.rates) // 2]

    def spread(self) -> str:
        return f"{min(self.rates):,.0f}-{max(self.rates):,.0f}" if len(self.rates) > 1 else ""


def server_db(folder: Path) -> Path:
    return folder / "gateway.db"


async def sandbox_gateway(fleet: Fleet, folder: Path) -> tuple[Server, dict[str, str]]:
    """`tgw serve --sandbox` on a SQLite file of its own in `folder` (the default config, but
    no daily limit; sandbox sends are unpaced by default), with an API client and the
    recipient registered: the server and the client's headers."""
    from tests.benchmarks.scale.common import write_config

    await asyncio.to_thread(folder.mkdir)
    config = write_config(
        folder / "tgw.toml", f"sqlite:///{server_db(folder)}", default_sending=True
    )
    server = await fleet.start(folder.name, serve_args(config, sandbox=True))
    headers = await create_client(server)
    await register(server, 1)
    await asyncio.sleep(1.0)
    return server, headers


def cpu_per_request_us(run: Run) -> str:
    """The server processes' CPU time (user + system) per accepted request."""
    if run.rate <= 0:
        return ""
    return f"{run.server_cpu_pct / 100 / run.rate * 1e6:.0f}"


async def windows(
    spread: Spread,
    window: float,
    repeats: int,
    tag: str,
    before: Callable[[], Awaitable[None]] | None = None,
) -> Repeated:
    await spread.run(2.0, f"warm {tag}")
    runs = []
    for number in range(repeats):
        if before is not None:
            await before()
        run, _ = await spread.run(window, f"{tag} {number}")
        print(f"  {tag}: {describe(run)}", flush=True)
        runs.append(run)
    return Repeated.of(runs)


def measured_row(what: str, measured: Repeated, raw_rate: float) -> list[str]:
    run = measured.median
    assert run is not None
    return [
        what,
        f"{measured.rate:,.0f}",
        measured.spread(),
        f"{measured.rate / raw_rate:.0%}",
        cpu_per_request_us(run),
        f"{run.percentile_ms(99):.1f}",
        f"{run.percentile_ms(50):.1f}",
        loadavg(),
    ]


async def sqlite_accept(args: argparse.Namespace) -> None:
    window = 8.0 if args.quick else 15.0
    repeats = 1 if args.quick else 3
    duration = 5.0 if args.quick else 10.0
    concurrency = args.concurrency
    print(
        f"\n# sqlite-accept: {machine()}; {concurrency} connections, {window:.0f} s windows, "
        f"median of {repeats}"
    )
    rows: list[list[str]] = []
    async with workdir(args.tmpdir, args.keep, "sqlite") as wd:
        fleet = Fleet(wd)
        try:
            server, headers = await sandbox_gateway(fleet, wd / "accept-only")
            raw_path = wd / "raw.db"
            copy_schema(server_db(wd / "accept-only"), raw_path)
            raws = []
            for _ in range(repeats):
                rate, p99 = await raw_sqlite(raw_path, concurrency, window)
                print(f"  raw sqlite3 group commit: {rate:,.0f} rows/s (p99 {p99:.1f} ms)")
                raws.append((rate, p99))
            raw = Repeated([rate for rate, _ in raws])
            raw_rate = raw.rate
            raw_p99 = sorted(raws)[len(raws) // 2][1]
            rows.append(
                [
                    "raw sqlite3, group commit",
                    f"{raw_rate:,.0f}",
                    raw.spread(),
                    "100%",
                    "",
                    f"{raw_p99:.1f}",
                    "",
                    loadavg(),
                ]
            )
            group_path = wd / "group.db"
            copy_schema(raw_path, group_path)
            bare = await fleet.start(
                "bare",
                [
                    str(BENCH_SEND),
                    "--serve-baseline",
                    "--db",
                    f"sqlite:///{wd / 'bare.db'}",
                    "--group-db",
                    str(group_path),
                ],
            )
            for path, what in (
                ("/nodb", "bare Starlette, parse and answer (HTTP ceiling)"),
                ("/group", "bare Starlette + the raw group commit (durable HTTP ceiling)"),
                ("/insert", "bare Starlette + 1 INSERT, 1 commit per request"),
            ):
                spread = Spread(path, [bare], {}, concurrency, [path])
                measured = await windows(spread, window, repeats, f"bare {path}")
                rows.append(measured_row(what, measured, raw_rate))
            await fleet.stop(bare)
            # The accept path alone: the queue is paused, the worker sends nothing. (Its
            # hundreds of thousands of queued messages stay with this gateway and its file.)
            await pause_queue(server, True)
            for native in (False, True):
                surface = "native /api/v1/messages" if native else "WhatsMate v3 text"
                spread = Spread("app", [server], headers, concurrency, native=native)
                measured = await windows(spread, window, repeats, f"accept only, {surface}")
                rows.append(measured_row(f"tgw, {surface}, accept only", measured, raw_rate))
            await fleet.stop(server)
            server, headers = await sandbox_gateway(fleet, wd / "sending")
            # As in production, on a gateway of its own: the worker sends while requests are
            # accepted (each window starts on an empty queue).
            for native in (False, True):
                surface = "native" if native else "WhatsMate v3"
                spread = Spread("app", [server], headers, concurrency, native=native)
                await drain(server)
                measured = await windows(
                    spread, window, repeats, f"while sending, {surface}", lambda: drain(server)
                )
                rows.append(measured_row(f"tgw, {surface}, while sending", measured, raw_rate))
            for native in (False, True):
                surface = "native" if native else "WhatsMate v3"
                # At a steady 200 req/s the worker sends as many as arrive: the open loop
                # starts on an empty queue (with a backlog still draining, the worker's writes
                # and CPU would be what the latency shows).
                await drain(server)
                latency = await open_loop(
                    f"200 req/s open loop, {duration:.0f} s",
                    server,
                    NATIVE_PATH if native else send_path(1),
                    headers,
                    native_body if native else send_body("latency"),
                    200.0,
                    duration,
                    max_connections=concurrency,
                    kind="raw",
                )
                rows.append(
                    [
                        f"tgw, {surface}, 200 req/s open loop",
                        f"{latency.rate:,.0f}",
                        "",
                        "",
                        cpu_per_request_us(latency),
                        f"{latency.percentile_ms(99):.1f}",
                        f"{latency.percentile_ms(50):.1f}",
                        loadavg(),
                    ]
                )
        finally:
            await fleet.stop_all()
    table(
        f"sqlite-accept (SQLite, {concurrency} connections; {machine()})",
        ["what", "per s", "range", "/ raw", "CPU us/req", "p99 ms", "p50 ms", "load"],
        rows,
    )
    print("  targets: tgw >= 50% of raw; p99 < 25 ms at 200 req/s")
    print("  CPU us/req: the server process's user + system time per accepted request")


PARTS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "accept-pg": accept_pg,
    "sqlite-accept": sqlite_accept,
}
