"""The `low-rate` part: what a steady trickle of sends costs the gateway in CPU.

One `tgw serve --sandbox` on SQLite (default options). Measured, in one run: the CPU of the
idle process; the CPU per message of a closed-loop burst (messages arrive together, so each
stage handles many at once: the baseline); then open loops at fixed rates, where each message
goes through every stage alone. CPU is the server process's user and system time from the
start of a window until its queue is empty again (the sends a window caused are counted in
it): per message, and in cores over that time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable

from tests.benchmarks.bench_send import Server, open_loop, send_body
from tests.benchmarks.scale.accept import drain, sandbox_gateway
from tests.benchmarks.scale.common import (
    Fleet,
    Spread,
    cpu_seconds,
    loadavg,
    machine,
    send_path,
    table,
    workdir,
)

RATES = (20.0, 50.0, 200.0)


async def _window(server: Server, run: Awaitable[int]) -> tuple[int, float, float, float]:
    """Messages accepted and seconds of `run`; seconds until its queue was empty again, and
    the server's CPU seconds over that time."""
    cpu0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
    accepted = await run
    elapsed = time.monotonic() - t0
    await drain(server)
    return accepted, elapsed, time.monotonic() - t0, cpu_seconds(server.proc.pid) - cpu0


def _row(what: str, accepted: int, elapsed: float, until_drained: float, cpu: float) -> list[str]:
    per_message = cpu / accepted * 1000 if accepted else float("nan")
    return [
        what,
        f"{accepted / elapsed:,.0f}",
        f"{cpu / until_drained:.2f}",
        f"{per_message:.2f}",
        loadavg(),
    ]


async def low_rate(args: argparse.Namespace) -> None:
    window = 8.0 if args.quick else 20.0
    print(f"\n== low-rate: CPU per message at steady rates ({window:.0f} s windows)", flush=True)
    rows: list[list[str]] = []
    async with workdir(args.tmpdir, args.keep, "low-rate") as wd:
        fleet = Fleet(wd)
        try:
            server, headers = await sandbox_gateway(fleet, wd / "gateway")
            await asyncio.sleep(2.0)
            cpu0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
            await asyncio.sleep(window / 2)
            idle = cpu_seconds(server.proc.pid) - cpu0
            rows.append(["idle", "0", f"{idle / (time.monotonic() - t0):.3f}", "", loadavg()])

            spread = Spread("burst", [server], headers, args.concurrency)

            async def burst() -> int:
                run, _ = await spread.run(window / 2, "burst")
                return run.ok

            await spread.run(2.0, "warm")
            await drain(server)
            measured = await _window(server, burst())
            rows.append(_row(f"burst, {args.concurrency} connections (baseline)", *measured))
            print(f"  {rows[-1]}", flush=True)
            for rate in RATES:

                async def steady(rate: float = rate) -> int:
                    run = await open_loop(
                        f"{rate:.0f}/s",
                        server,
                        send_path(1),
                        headers,
                        send_body("low-rate"),
                        rate,
                        window,
                        max_connections=16,
                        kind="raw",
                    )
                    return run.ok

                measured = await _window(server, steady())
                rows.append(_row(f"open loop, {rate:.0f} req/s", *measured))
                print(f"  {rows[-1]}", flush=True)
        finally:
            await fleet.stop_all()
    table(
        f"low-rate (SQLite, sandbox, WhatsMate v3 text; {machine()})",
        ["what", "msgs/s", "cores", "CPU ms/msg", "load"],
        rows,
    )
