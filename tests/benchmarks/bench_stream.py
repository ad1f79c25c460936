"""Benchmark of the live event stream: readers x events/s, and latency from event to reader.

A script, not a pytest test. From the repository root:

    python tests/benchmarks/bench_stream.py [--readers 1,10,50,100] [--rate 40] [--duration 8]

Starts `tgw serve --sandbox` (this checkout, fresh SQLite file, pacing off), registers a few
sandbox people, then for each number of readers N: opens N readers, makes events at a steady
--rate for --duration (each a message from a registered person, `POST
/admin/sandbox/1/inbound`: one message.received each), and measures what the readers got.

- stream: N readers of `GET /api/v1/events/stream` (Server-Sent Events, live from now);
- baseline, in the same run: N readers polling `GET /api/v1/events?after=<last seq>` every
  --poll-s (what a client does without the stream).

For each: events/s delivered to all readers together (every reader must get every event),
the latency p50/p99 from the event's timestamp (taken in the transaction that stored it) to
its arrival at a reader (same machine, same clock), and the CPU the gateway process used, in
cores. Exit status 0 whatever the figures; 1 if a reader missed an event or got one twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "bench-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CLIENT_ID = "bench@example.com"
READY_TIMEOUT_S = 60.0
SETTLE_S = 10.0  # how long readers may still take to receive the last events


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency_s(event: dict[str, Any], arrived: float) -> float:
    written = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    return arrived - written.timestamp()


@dataclass
class Reader:
    seqs: list[int] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    last: int = 0
    # Set once the reader has the seq `until` (known when the events are made).
    until: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def got(self, event: dict[str, Any], arrived: float) -> None:
        self.seqs.append(event["seq"])
        self.latencies_s.append(latency_s(event, arrived))
        self.last = event["seq"]
        self.check()

    def check(self) -> None:
        if self.until is not None and self.last >= self.until:
            self.done.set()


async def stream_reader(http: httpx.AsyncClient, api: dict[str, str], reader: Reader,
                        opened: asyncio.Event) -> None:  # fmt: skip
    async with http.stream("GET", "/api/v1/events/stream", headers=api) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line == ": stream open":
                opened.set()
            elif line.startswith("data: "):
                reader.got(orjson.loads(line[6:]), time.time())


async def polling_reader(http: httpx.AsyncClient, api: dict[str, str], reader: Reader,
                         poll_s: float) -> None:  # fmt: skip
    while True:
        response = await http.get(
            "/api/v1/events", params={"after": reader.last, "limit": 1000}, headers=api
        )
        response.raise_for_status()
        arrived = time.time()
        for event in response.json()["data"]:
            reader.got(event, arrived)
        await asyncio.sleep(poll_s)


async def make_events(http: httpx.AsyncClient, people: list[str], rate: float,
                      duration_s: float) -> tuple[int, float]:  # fmt: skip
    """Inbound messages at `rate` (open loop) for `duration_s`: (how many, first seq)."""
    count = int(rate * duration_s)
    start = time.monotonic()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        body = {"from": {"number": people[i % len(people)], "first_name": "B"}, "text": f"m{i}"}
        response = await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
        response.raise_for_status()

    await asyncio.gather(*(one(i) for i in range(count)))
    return count, time.monotonic() - start


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * q / 100 + 0.5) - 1))]


async def phase(gateway: subprocess.Popen[bytes], url: str, api: dict[str, str],
                people: list[str], readers_n: int, args: argparse.Namespace,
                polling: bool) -> tuple[str, bool]:  # fmt: skip
    limits = httpx.Limits(max_connections=readers_n + 50, max_keepalive_connections=readers_n + 50)
    async with httpx.AsyncClient(base_url=url, timeout=None, limits=limits) as http:
        newest = await newest_seq(http, api)
        readers = [Reader(last=newest) for _ in range(readers_n)]
        tasks = []
        for reader in readers:
            if polling:
                tasks.append(asyncio.create_task(polling_reader(http, api, reader, args.poll_s)))
            else:
                opened = asyncio.Event()
                tasks.append(asyncio.create_task(stream_reader(http, api, reader, opened)))
                await asyncio.wait_for(opened.wait(), 30)
        cpu0 = cpu_seconds(gateway.pid)
        made, elapsed = await make_events(http, people, args.rate, args.duration)
        until = await newest_seq(http, api)
        expected = list(range(newest + 1, until + 1))
        for reader in readers:
            reader.until = until
            reader.check()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(r.done.wait() for r in readers)), SETTLE_S)
        cpu1 = cpu_seconds(gateway.pid)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    exact = all(r.seqs == expected for r in readers)
    delivered = sum(len(r.seqs) for r in readers)
    latencies = [x * 1000 for r in readers for x in r.latencies_s]
    cores = f"{(cpu1 - cpu0) / elapsed:.2f}" if cpu0 is not None and cpu1 is not None else "?"
    label = f"poll GET /api/v1/events every {args.poll_s:g}s" if polling else "stream (SSE)"
    line = (
        f"{readers_n:>4} readers  {label:<38} {len(expected)} events in {elapsed:.1f}s "
        f"({made} made): {delivered / elapsed:8.0f} events/s delivered to all, "
        f"p50 {pct(latencies, 50):6.1f} ms, p99 {pct(latencies, 99):7.1f} ms, "
        f"gateway {cores} cores{'' if exact else '  MISSED OR DOUBLED EVENTS'}"
    )
    return line, exact


async def newest_seq(http: httpx.AsyncClient, api: dict[str, str]) -> int:
    after = 0
    while True:
        page = (await http.get("/api/v1/events", params={"after": after, "limit": 1000},
                               headers=api)).json()  # fmt: skip
        if not page["data"]:
            return after
        after = page["next_after"]


def spawn_gateway(workdir: Path, config: Path, port: int, log: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGW_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--sandbox", "--config", str(config),
         "--port", str(port)],
        cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tgw-bench-stream-"))
    config = workdir / "tgw.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{workdir}/tgw.db"\n'
        f'[security]\nadmin_token = "{ADMIN_TOKEN}"\n'
        "[sending]\nper_second = 0\nper_recipient_interval_s = 0\n"
        "[event_stream]\nmax_readers = 1000\nmax_buffered_events = 100000\n"
        "[server]\nmax_connections = 2000\n",
        encoding="utf-8",
    )
    port = free_port()
    log = (workdir / "gateway.log").open("wb")
    gateway = spawn_gateway(workdir, config, port, log)
    url = f"http://127.0.0.1:{port}"
    ok = True
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                if time.monotonic() > deadline or gateway.poll() is not None:
                    raise RuntimeError("the gateway did not start")
                await asyncio.sleep(0.1)
            answer = await http.post("/admin/clients", json={"client_id": CLIENT_ID},
                                     headers=ADMIN)  # fmt: skip
            api = {"X-WM-CLIENT-ID": CLIENT_ID,
                   "X-WM-CLIENT-SECRET": answer.json()["client_secret"]}  # fmt: skip
            people = [f"3461{i:07d}" for i in range(args.people)]
            for number in people:
                hi = {"from": {"number": number, "first_name": "B"}, "text": "Hi"}
                said = await http.post("/admin/sandbox/1/inbound", json=hi, headers=ADMIN)
                said.raise_for_status()
            await asyncio.sleep(1.0)
        print(f"rate {args.rate:g} events/s for {args.duration:g}s per phase; SQLite; "
              f"{os.cpu_count()} cores", flush=True)  # fmt: skip
        for readers_n in args.readers:
            for polling in (False, True):
                line, exact = await phase(gateway, url, api, people, readers_n, args, polling)
                ok = ok and exact
                print(line, flush=True)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(gateway.pid, signal.SIGTERM)
        gateway.wait(timeout=30)
        log.close()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir} (gateway.log)")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readers", default="1,10,50,100",
                        type=lambda s: [int(x) for x in s.split(",")])  # fmt: skip
    parser.add_argument("--rate", type=float, default=40.0, help="events per second")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--poll-s", type=float, default=0.5, help="the baseline's poll interval")
    parser.add_argument("--people", type=int, default=5)
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
