"""Benchmark of the inbound path to webhooks: receive latency and sustained rate.

A script, not a pytest test. From the repository root:

    python tests/benchmarks/bench_webhooks.py [--rate 100] [--duration 10] [--messages 3000]

Three processes: `tgw serve --sandbox` (this checkout, fresh SQLite file, pacing off, one
`[[webhooks]]` endpoint), a webhook receiver (uvicorn + a bare ASGI app that records when each
request arrived, on the machine-wide monotonic clock), and this load generator.

Each inbound message is `POST /admin/sandbox/1/inbound` from one of the registered people (as
if they wrote to the gateway), with a unique text. Its latency runs from the moment the request
was due (open loop) or sent to the moment the receiver got the webhook that carries the text:
sandbox, update pump, inbound processing and event log, fan-out, delivery worker, HTTP.

Baseline, in the same run: the same JSON bodies posted straight to the receiver with httpx
(one AsyncClient), at the same rate and then as fast as it goes: what the machine, the
receiver and httpx cost without the gateway.

Phases: (1) baseline at --rate for --duration; (2) baseline closed loop, --messages requests;
(3) gateway at --rate for --duration; (4) gateway closed loop (--concurrency posters),
--messages messages: the sustained rate is delivered webhooks per second from the first post
to the last arrival. Each gateway phase also prints the CPU the gateway process used, in
cores (from /proc, where there is one): near 1.0 it is bound by its event loop and the GIL,
not by the database. Exit status 0 whatever the figures; 1 if a request failed or a message
never arrived.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[2]
ADMIN_TOKEN = "bench-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TARGET_P99_MS = 50.0
TARGET_RATE = 300.0
READY_TIMEOUT_S = 30.0
ARRIVAL_GRACE_S = 30.0


# --- the receiver (runs in a process of its own) ---


def receiver_app() -> Any:
    """A bare ASGI app: POST records (text, arrival); GET returns and clears the records."""
    arrivals: list[tuple[str, float, float]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            arrived, wall = time.monotonic(), time.time()
            event = orjson.loads(body)
            # From the event's own timestamp (taken as the gateway stored it) to arrival: the
            # webhook stage alone (fan-out, delivery worker, HTTP), on the same machine's clock.
            written = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            arrivals.append((event.get("message") or "", arrived, wall - written.timestamp()))
            answer = b"ok"
        else:
            answer = orjson.dumps(arrivals)
            arrivals.clear()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def serve_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(receiver_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


# --- processes ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def spawn(name: str, args: list[str], workdir: Path, port: int) -> Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGW_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, proc, port, log)


async def wait_ready(process: Process, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with httpx.AsyncClient(base_url=process.url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    tail = process.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{process.name} did not start:\n{tail}")


def gateway_config(workdir: Path, receiver: Process) -> Path:
    path = workdir / "tgw.toml"
    path.write_text(
        f"""
[database]
url = "sqlite:///{workdir}/tgw.db"

[security]
admin_token = "{ADMIN_TOKEN}"

[sending]
per_second = 0
per_recipient_interval_s = 0

[limits]
max_recipients = 100000

[webhook_delivery]
allow_private_targets = true

[[webhooks]]
url = "{receiver.url}/hook"
secret = "{SECRET}"
events = ["message.received"]
""",
        encoding="utf-8",
    )
    return path


# --- measuring ---


@dataclass
class Figures:
    label: str
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    # From the event's timestamp to its arrival: the webhook stage's share of the latency.
    stage_ms: list[float] = field(default_factory=list)
    missing: int = 0
    elapsed_s: float = 0.0
    # CPU time the gateway process used over the phase, in cores (None: not measured).
    gateway_cores: float | None = None

    def pct(self, q: float, stage: bool = False) -> float:
        values = self.stage_ms if stage else self.latencies_ms
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * q / 100 + 0.5) - 1))]

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def line(self) -> str:
        extra = f", {self.missing} never arrived" if self.missing else ""
        extra += f", {len(self.failures)} failed requests" if self.failures else ""
        if self.gateway_cores is not None:
            extra += f"   gateway CPU {self.gateway_cores:.2f} cores"
        return (
            f"{self.label:<44} {len(self.latencies_ms):>6} arrived in {self.elapsed_s:6.2f} s "
            f"= {self.rate:7.1f}/s   p50 {self.pct(50):7.1f} ms   p99 {self.pct(99):7.1f} ms"
            f"{extra}"
            + (
                f"\n{'':<44} of which event -> webhook: p50 {self.pct(50, True):.1f} ms, "
                f"p99 {self.pct(99, True):.1f} ms"
                if self.stage_ms and not self.label.startswith("baseline")
                else ""
            )
        )


Post = Callable[[int], Awaitable[None]]


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def collect(receiver: Process, client: httpx.AsyncClient) -> dict[str, tuple[float, float]]:
    """text -> (arrival on the monotonic clock, seconds since the event's timestamp)."""
    response = await client.get(f"{receiver.url}/arrivals")
    return {text: (arrived, stage) for text, arrived, stage in orjson.loads(response.content)}


async def measure(
    figures: Figures,
    post: Post,
    texts: Callable[[int], str],
    count: int,
    receiver: Process,
    *,
    rate: float | None,
    concurrency: int,
    gateway: Process | None = None,
) -> Figures:
    """Post `count` messages (open loop at `rate`, or closed loop), then match arrivals."""
    started: dict[str, float] = {}
    # The gateway's CPU over the phase: near 1.0 means its one event loop (and the GIL it
    # shares with the SQLite writer thread) is the limit, not the database or the disk.
    cpu0 = cpu_seconds(gateway.proc.pid) if gateway is not None else None
    t0 = time.monotonic()
    next_index = iter(range(count))

    async def one(i: int, due: float) -> None:
        started[texts(i)] = due
        try:
            await post(i)
        except Exception as exc:  # a report, not a crash
            figures.failures.append(f"{type(exc).__name__}: {exc}")

    if rate is not None:
        tasks = []
        for i in range(count):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    else:

        async def worker() -> None:
            for i in next_index:
                await one(i, time.monotonic())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    figures.sent = count
    arrivals: dict[str, tuple[float, float]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        deadline = time.monotonic() + ARRIVAL_GRACE_S
        while True:
            arrivals.update(await collect(receiver, client))
            if set(started) <= set(arrivals) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    if gateway is not None and cpu0 is not None:
        cpu1 = cpu_seconds(gateway.proc.pid)
        if cpu1 is not None:
            figures.gateway_cores = (cpu1 - cpu0) / (time.monotonic() - t0)
    last = t0
    for text, due in started.items():
        if text in arrivals:
            arrived, stage = arrivals[text]
            figures.latencies_ms.append(1000 * (arrived - due))
            figures.stage_ms.append(1000 * stage)
            last = max(last, arrived)
        else:
            figures.missing += 1
    figures.elapsed_s = last - t0
    return figures


# --- the run ---


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tgw-bench-webhooks-"))
    processes: list[Process] = []
    results: list[Figures] = []
    try:
        port = free_port()
        receiver = spawn("receiver", [str(SCRIPT), "--serve-receiver", str(port)], workdir, port)
        processes.append(receiver)
        await wait_ready(receiver, "/ready")
        await collect_clear(receiver)
        people = [f"3461{i:07d}" for i in range(args.people)]

        def body(i: int, prefix: str) -> bytes:
            # What a message.received webhook looks like, for the baseline's payloads.
            return orjson.dumps(
                {
                    "type": "message.received",
                    "id": f"evt_{i:032x}",
                    "seq": i,
                    "timestamp": "2026-11-25T12:00:00Z",
                    "instance_id": 1,
                    "gateway_number": "423000000001",
                    "number": people[i % len(people)],
                    "message": f"{prefix}-{i}",
                    "data": {"text": f"{prefix}-{i}", "sender": {"user_id": i}},
                }
            )

        async with httpx.AsyncClient(timeout=30) as direct:

            def baseline_post(prefix: str) -> Post:
                async def post(i: int) -> None:
                    response = await direct.post(
                        f"{receiver.url}/hook",
                        content=body(i, prefix),
                        headers={"content-type": "application/json"},
                    )
                    response.raise_for_status()

                return post

            n_rate = int(args.rate * args.duration)
            results.append(
                await measure(
                    Figures(f"baseline: httpx -> receiver, {args.rate:g}/s"),
                    baseline_post("b1"),
                    lambda i: f"b1-{i}",
                    n_rate,
                    receiver,
                    rate=args.rate,
                    concurrency=1,
                )
            )
            print(results[-1].line(), flush=True)
            results.append(
                await measure(
                    Figures(f"baseline: httpx -> receiver, {args.concurrency} at once"),
                    baseline_post("b2"),
                    lambda i: f"b2-{i}",
                    args.messages,
                    receiver,
                    rate=None,
                    concurrency=args.concurrency,
                )
            )
            print(results[-1].line(), flush=True)

        gport = free_port()
        config = gateway_config(workdir, receiver)
        gateway = spawn(
            "gateway",
            ["-m", "app", "serve", "--sandbox", "--config", str(config), "--port", str(gport)],
            workdir,
            gport,
        )
        processes.append(gateway)
        await wait_ready(gateway, "/healthz")
        limits = httpx.Limits(max_connections=args.concurrency + 4)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30, limits=limits) as http:
            for number in people:
                greeting = {"from": {"number": number, "first_name": "Bench"}, "text": "Hi"}
                answer = await http.post("/admin/sandbox/1/inbound", json=greeting, headers=ADMIN)
                answer.raise_for_status()
            await asyncio.sleep(1.0)
            await collect_clear(receiver)

            def gateway_post(prefix: str) -> Post:
                async def post(i: int) -> None:
                    message = {
                        "from": {"number": people[i % len(people)], "first_name": "Bench"},
                        "text": f"{prefix}-{i}",
                    }
                    response = await http.post(
                        "/admin/sandbox/1/inbound", json=message, headers=ADMIN
                    )
                    response.raise_for_status()

                return post

            # Warm-up: code paths, caches, connections.
            await measure(
                Figures("warm-up"),
                gateway_post("w"),
                lambda i: f"w-{i}",
                200,
                receiver,
                rate=None,
                concurrency=8,
            )
            results.append(
                await measure(
                    Figures(f"gateway: inbound -> webhook, {args.rate:g}/s"),
                    gateway_post("g1"),
                    lambda i: f"g1-{i}",
                    int(args.rate * args.duration),
                    receiver,
                    rate=args.rate,
                    concurrency=1,
                    gateway=gateway,
                )
            )
            print(results[-1].line(), flush=True)
            results.append(
                await measure(
                    Figures(f"gateway: inbound -> webhook, {args.concurrency} at once"),
                    gateway_post("g2"),
                    lambda i: f"g2-{i}",
                    args.messages,
                    receiver,
                    rate=None,
                    concurrency=args.concurrency,
                    gateway=gateway,
                )
            )
            print(results[-1].line(), flush=True)
            # The webhook stage alone: the endpoint is disabled while a backlog of events is
            # written, then enabled; fan-out and delivery drain it (the sandbox's own update
            # path is not in this figure).
            endpoint_id = (await http.get("/admin/webhooks", headers=ADMIN)).json()["data"][0]["id"]
            (
                await http.patch(
                    f"/admin/webhooks/{endpoint_id}", json={"enabled": False}, headers=ADMIN
                )
            ).raise_for_status()
            backlog = Figures(f"webhook stage: backlog of {args.messages} drained")
            post = gateway_post("d")
            it = iter(range(args.messages))

            async def fill() -> None:
                for i in it:
                    await post(i)

            await asyncio.gather(*(fill() for _ in range(args.concurrency)))
            await collect_clear(receiver)
            enabled_at = time.monotonic()
            (
                await http.patch(
                    f"/admin/webhooks/{endpoint_id}", json={"enabled": True}, headers=ADMIN
                )
            ).raise_for_status()
            drained: dict[str, tuple[float, float]] = {}
            async with httpx.AsyncClient(timeout=10) as client:
                deadline = time.monotonic() + ARRIVAL_GRACE_S + args.messages / 100
                while len(drained) < args.messages and time.monotonic() < deadline:
                    drained.update(await collect(receiver, client))
                    await asyncio.sleep(0.2)
            arrivals = {text: arrived for text, (arrived, _) in drained.items()}
            backlog.sent = args.messages
            backlog.latencies_ms = [1000 * (t - enabled_at) for t in arrivals.values()]
            backlog.missing = args.messages - len(arrivals)
            backlog.elapsed_s = max(arrivals.values(), default=enabled_at) - enabled_at
            results.append(backlog)
            print(results[-1].line(), flush=True)
            if args.rate2:
                results.append(
                    await measure(
                        Figures(f"gateway: inbound -> webhook, {args.rate2:g}/s"),
                        gateway_post("g3"),
                        lambda i: f"g3-{i}",
                        int(args.rate2 * args.duration),
                        receiver,
                        rate=args.rate2,
                        concurrency=1,
                        gateway=gateway,
                    )
                )
                print(results[-1].line(), flush=True)
    finally:
        for process in reversed(processes):
            process.stop()
        if args.keep:
            print(f"logs and database kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    at_rate, sustained, stage = results[2], results[3], results[4]
    print()
    print(
        f"p99 at {args.rate:g}/s: {at_rate.pct(99):.1f} ms (target < {TARGET_P99_MS:g} ms; "
        f"baseline {results[0].pct(99):.1f} ms); from the event's commit: "
        f"{at_rate.pct(99, True):.1f} ms"
    )
    print(
        f"sustained, sandbox to receiver: {sustained.rate:.0f} webhooks/s; webhook stage "
        f"alone: {stage.rate:.0f}/s (target >= {TARGET_RATE:g}; baseline "
        f"{results[1].rate:.0f}/s)"
    )
    bad = [f for f in results if f.failures or f.missing]
    for figures in bad:
        print(f"{figures.label}: {figures.failures[:3]} missing={figures.missing}")
    return 1 if bad else 0


async def collect_clear(receiver: Process) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        await collect(receiver, client)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop messages/s")
    parser.add_argument("--rate2", type=float, default=60.0, help="a second open-loop rate")
    parser.add_argument("--duration", type=float, default=10.0, help="open-loop seconds")
    parser.add_argument("--messages", type=int, default=3000, help="closed-loop messages")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop posters")
    parser.add_argument("--people", type=int, default=50, help="registered senders")
    parser.add_argument("--keep", action="store_true", help="keep the logs and database")
    args = parser.parse_args(argv)
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
