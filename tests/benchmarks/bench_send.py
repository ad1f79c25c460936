"""Benchmark of the send path: accept rate, latency at a fixed rate, and worker drain rate.

A script, not a pytest test. From the repository root:

    python tests/benchmarks/bench_send.py [--requests N] [--concurrency C]

Every server runs under uvicorn in a process of its own (uvloop + httptools, one worker, as
`tgw serve` runs it); the load generator (HTTP/1.1 keep-alive, C concurrent workers) runs in
this process. Each run uses fresh SQLite files in a temporary folder. The default load generator
is a minimal asyncio HTTP/1.1 client (`--client raw`): httpx.AsyncClient (`--client httpx`)
tops out below 1,000 requests/s on a 2-core machine, under the target (its ceiling is printed).

Phases:

1. Baseline server (this file with --serve-baseline), a bare Starlette app:
   - POST /nodb    parses the JSON body and answers; no database: the load generator ceiling,
                   measured with both clients (see --client) to tell whose CPU ran out.
   - POST /insert  parses the JSON body and INSERTs one row in a transaction of its own, with
                   `app.db.create_engine`, `create_session_factory` and `transaction`: the
                   gateway's WAL, synchronous=FULL, BEGIN IMMEDIATE and in-process write lock.
   - POST /group   (with --group-db, used by bench_scale.py's sqlite-accept part) makes the
                   gateway's queue row and inserts it through a raw sqlite3 group commit.
2. Gateway set-up, `tgw serve --sandbox`: two API clients and a registered recipient.
3. Gateway without --sandbox: instance 1 is then a Telethon instance with no backend, so no send
   worker runs. The accept rate with nothing else writing; the accepted messages stay queued.
4. Gateway restarted with --sandbox on the same database: the worker drains that queue. The rate
   runs from startup (the server answering /healthz, or the first send if earlier: the worker
   starts just before the port opens) to the last message's own `sent_at`.
5. Same server, worker running (as in production): the accept rate, then, once the queue is
   empty (waiting at most 15 s), latency at a fixed open-loop rate, counted from each request's
   scheduled start.

`tgw serve` runs as `python -m app serve` with this repository first on PYTHONPATH, so the code
measured is this checkout's even if another one is installed. Every phase is bounded in time
(--phase-timeout, --drain-timeout). The exit status is 0 whatever the figures are (this is a
report), and 1 if any request sent (warm-ups included) got a non-2xx answer or a transport
error; requests still unanswered when the latency run is cut off are reported, not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SCRIPT = Path(__file__).resolve()
REPO = SCRIPT.parents[2]
ADMIN_TOKEN = "bench-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
RECIPIENT = "34612345678"
SEND_PATH = "/v3/telegram/single/text/message/1"
ACCEPT_CLIENT = "bench@example.com"
DRAIN_CLIENT = "drain@example.com"

TARGET_ACCEPT_PER_S = 1000.0
TARGET_BASELINE_RATIO = 0.5
TARGET_P99_MS = 25.0
TARGET_DRAIN_PER_S = 500.0

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 30.0
WARMUP_TIMEOUT_S = 10.0
QUEUE_WAIT_S = 15.0  # for the queue to empty before the latency run
LATENCY_GRACE_S = 10.0  # for the open loop's last answers after its schedule ends
POLL_INTERVAL_S = 0.05
NOISY_OTHER_CPU_PCT = 25.0  # other processes using more than this make a figure unreliable
CLK_TCK = os.sysconf("SC_CLK_TCK")

Body = Callable[[int], bytes]


# --- the baseline server (runs in a process of its own) ---

BASELINE_METADATA = MetaData()
BENCH_ROW = Table(
    "bench_row",
    BASELINE_METADATA,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)


def _json_response(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


def baseline_app(db_url: str, group_db: str = "") -> Starlette:
    """The gateway's engine and write path (`transaction`, one per request), nothing else; with
    `group_db` (a SQLite file holding the gateway's `message` table), also POST /group."""
    # Imported here, in the server process, whose PYTHONPATH puts this repository first
    # (another checkout may be the one installed in site-packages).
    from app.db import create_engine, create_session_factory, transaction
    from tests.benchmarks.scale.group_writer import GroupWriter, app_row, sqlite_values

    engine = create_engine(db_url)
    # As build_services does: this process's writers take turns on one lock.
    factory = create_session_factory(engine, asyncio.Lock())
    writers: list[GroupWriter] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(BASELINE_METADATA.create_all)
        if group_db:
            writers.append(GroupWriter(Path(group_db), list(app_row(0))))
        try:
            yield
        finally:
            for writer in writers:
                await asyncio.to_thread(writer.close)
            await engine.dispose()

    async def group_insert(request: Request) -> Response:
        """The HTTP ceiling of a durable accept: the body parsed, a queue row made as the
        gateway makes it, and the raw sqlite3 group commit of scale/accept.py."""
        data = orjson.loads(await request.body())
        row = app_row(0, str(data["number"]), str(data["message"]))
        await writers[0].insert(sqlite_values(row))
        return _json_response({"status": "queued", "id": row["id"]})

    async def insert_row(request: Request) -> Response:
        data = orjson.loads(await request.body())
        row_id = str(uuid.uuid4())
        async with transaction(factory) as session:
            await session.execute(
                insert(BENCH_ROW).values(
                    id=row_id,
                    number=str(data["number"]),
                    message=str(data["message"]),
                    created_at=datetime.now(UTC).replace(tzinfo=None),
                )
            )
        return _json_response({"status": "queued", "id": row_id})

    async def no_db(request: Request) -> Response:
        data = orjson.loads(await request.body())
        return _json_response({"status": "queued", "id": str(uuid.uuid4()), "n": data["number"]})

    async def healthz(request: Request) -> Response:
        return _json_response({"status": "ok"})

    return Starlette(
        routes=[
            Route("/insert", insert_row, methods=["POST"]),
            Route("/nodb", no_db, methods=["POST"]),
            Route("/group", group_insert, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def serve_baseline(port: int, db_url: str, group_db: str = "") -> None:
    # The uvicorn settings of `tgw serve`.
    uvicorn.run(
        baseline_app(db_url, group_db),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


# --- server processes ---


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    # TGW_* variables would override the benchmark's configuration.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGW_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    spawned_at: float  # time.time(), comparable with the server's own timestamps

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process (all its threads) so far."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(name: str, args: list[str], workdir: Path) -> Server:
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *args, "--port", str(port)],
            cwd=workdir,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, proc, port, log_path, time.time())


async def wait_ready(server: Server) -> float:
    """Poll /healthz until it answers; return the time.time() it first did."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    async with httpx.AsyncClient(base_url=server.base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    return time.time()
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{server.name} did not start:\n{server.log_tail()}")


def _stop(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully
        try:
            server.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=STOP_TIMEOUT_S)


async def stop(server: Server) -> None:
    await asyncio.to_thread(_stop, server)


@contextlib.asynccontextmanager
async def running(name: str, args: list[str], workdir: Path) -> AsyncIterator[Server]:
    server = spawn(name, args, workdir)
    try:
        await wait_ready(server)
        yield server
    finally:
        await stop(server)


# --- CPU accounting ---


def machine_busy_seconds() -> float:
    """CPU time every process of the machine spent so far (not idle, iowait or steal)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in first[1:8])
    return (user + nice + system + irq + softirq) / CLK_TCK


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds of this process (the load generator), of the server, of the machine."""

    client: float
    server: float
    machine: float

    @classmethod
    def take(cls, server: Server) -> CpuSample:
        return cls(time.process_time(), server.cpu_seconds(), machine_busy_seconds())

    def minus(self, earlier: CpuSample) -> CpuSample:
        return CpuSample(
            self.client - earlier.client,
            self.server - earlier.server,
            self.machine - earlier.machine,
        )

    @property
    def other(self) -> float:
        """CPU of every other process: noise that makes the figures unreliable."""
        return max(0.0, self.machine - self.client - self.server)


# --- load generation ---


@dataclass
class Run:
    label: str
    planned: int
    elapsed_s: float
    latencies_s: list[float]
    statuses: Counter[int]
    errors: Counter[str]
    cpu: CpuSample
    first_failure: str | None = None
    max_start_lag_s: float = 0.0  # open loop: how late the generator started a request
    # Open loop: how long the requests still unanswered when the run was cut off had waited.
    cut_off_s: list[float] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values()) + len(self.cut_off_s)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def failures(self) -> int:
        """Non-2xx answers and transport errors (requests cut off unanswered are not counted)."""
        return self.sent - self.ok - len(self.cut_off_s)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def _pct(self, seconds: float) -> float:
        return 100 * seconds / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def client_cpu_pct(self) -> float:
        return self._pct(self.cpu.client)

    @property
    def server_cpu_pct(self) -> float:
        return self._pct(self.cpu.server)

    @property
    def other_cpu_pct(self) -> float:
        return self._pct(self.cpu.other)

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the latencies. Requests cut off unanswered count with the
        time they had waited, so with any of them high percentiles are lower bounds."""
        if not self.latencies_s and not self.cut_off_s:
            return float("nan")
        ordered = sorted(self.latencies_s + self.cut_off_s)
        index = min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1))
        return 1000 * ordered[int(index)]


class HttpxConnection:
    """One keep-alive connection: an httpx.AsyncClient limited to a single connection.

    One client per connection rather than one client with a pool of C: for every request
    httpcore's pool scans (and polls the socket of) each pooled connection, which made a pool of
    32 about four times slower than 32 single-connection clients here.
    """

    def __init__(self, server: Server) -> None:
        self._client = httpx.AsyncClient(
            base_url=server.base_url,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=REQUEST_TIMEOUT_S,
        )

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        response = await self._client.request(method, path, content=body, headers=headers)
        return response.status_code, response.content

    async def reset(self) -> None:
        """After a failure: httpx drops a broken connection by itself."""

    async def close(self) -> None:
        await self._client.aclose()


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams, to see past httpx's own cost.

    Enough for these servers: requests with a Content-Length body, answers with a
    Content-Length or chunked body.
    """

    def __init__(self, server: Server) -> None:
        self._server = server
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            if self._streams is None:
                self._streams = await asyncio.open_connection("127.0.0.1", self._server.port)
            reader, writer = self._streams
            lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self._server.port}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            status = int((await reader.readuntil(b"\r\n")).split(b" ", 2)[1])
            length, chunked = 0, False
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
            if not chunked:
                return status, await reader.readexactly(length)
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            return status, b"".join(chunks)

    async def reset(self) -> None:
        """After a failure: the next request opens a new connection."""
        await self.close()

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            with contextlib.suppress(OSError):
                await self._streams[1].wait_closed()
            self._streams = None


Connection = HttpxConnection | RawConnection
CLIENT_ERRORS = (httpx.HTTPError, OSError, asyncio.IncompleteReadError, TimeoutError, ValueError)


class Recorder:
    def __init__(self) -> None:
        self.latencies_s: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.first_failure: str | None = None

    def fail(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.first_failure = self.first_failure or f"{kind}: {detail}"

    async def post(
        self, conn: Connection, path: str, headers: dict[str, str], body: bytes, t0: float
    ) -> None:
        try:
            status, answer = await conn.request("POST", path, headers, body)
        except CLIENT_ERRORS as exc:
            await conn.reset()
            self.fail(type(exc).__name__, str(exc))
            return
        self.latencies_s.append(time.perf_counter() - t0)
        self.statuses[status] += 1
        if not 200 <= status < 300 and self.first_failure is None:
            self.first_failure = f"HTTP {status}: {answer[:300].decode(errors='replace')}"

    def run(self, label: str, planned: int, elapsed_s: float, cpu: CpuSample) -> Run:
        return Run(
            label,
            planned,
            elapsed_s,
            self.latencies_s,
            self.statuses,
            self.errors,
            cpu,
            self.first_failure,
        )


@contextlib.asynccontextmanager
async def connections(server: Server, count: int, kind: str) -> AsyncIterator[list[Connection]]:
    """`count` keep-alive connections of the `kind` client, already connected."""
    conns: list[Connection] = [
        HttpxConnection(server) if kind == "httpx" else RawConnection(server) for _ in range(count)
    ]
    try:
        for status, _ in await asyncio.gather(
            *(conn.request("GET", "/healthz", {}, b"") for conn in conns)
        ):
            if status != 200:
                raise RuntimeError(f"{server.name}: GET /healthz answered {status}")
        yield conns
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))


async def closed_loop(
    label: str,
    server: Server,
    path: str,
    headers: dict[str, str],
    body: Body,
    count: int,
    concurrency: int,
    deadline_s: float,
    kind: str,
) -> Run:
    """Up to `count` requests from `concurrency` workers, each sending as soon as its last one
    was answered; no request starts after `deadline_s`."""
    recorder = Recorder()
    headers = {**headers, "Content-Type": "application/json"}
    next_index = 0
    async with connections(server, concurrency, kind) as conns:
        stop_at = time.perf_counter() + deadline_s

        async def worker(conn: Connection) -> None:
            nonlocal next_index
            while next_index < count and time.perf_counter() < stop_at:
                index = next_index
                next_index += 1
                await recorder.post(conn, path, headers, body(index), time.perf_counter())

        cpu0, t0 = CpuSample.take(server), time.perf_counter()
        await asyncio.gather(*(worker(conn) for conn in conns))
        elapsed = time.perf_counter() - t0
        cpu = CpuSample.take(server).minus(cpu0)
    return recorder.run(label, count, elapsed, cpu)


async def open_loop(
    label: str,
    server: Server,
    path: str,
    headers: dict[str, str],
    body: Body,
    rate: float,
    duration_s: float,
    max_connections: int,
    kind: str,
) -> Run:
    """Requests started on a fixed schedule whatever the answers. Latency counts from the
    scheduled start, so a stalled server cannot hide its queueing (no coordinated omission);
    a request waits for a free connection when all `max_connections` are busy. Requests still
    unanswered LATENCY_GRACE_S after the schedule ends are cut off (see Run.cut_off_s)."""
    recorder = Recorder()
    headers = {**headers, "Content-Type": "application/json"}
    count = max(1, round(rate * duration_s))
    max_lag = 0.0
    async with connections(server, max_connections, kind) as conns:
        idle: asyncio.Queue[Connection] = asyncio.Queue()
        for conn in conns:
            idle.put_nowait(conn)

        async def one(index: int, scheduled: float) -> None:
            conn = await idle.get()
            try:
                await recorder.post(conn, path, headers, body(index), scheduled)
            finally:
                idle.put_nowait(conn)

        tasks: list[asyncio.Task[None]] = []
        cpu0 = CpuSample.take(server)
        start = time.perf_counter() + 0.01
        for index in range(count):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, time.perf_counter() - scheduled)
            tasks.append(asyncio.create_task(one(index, scheduled)))
        _, pending = await asyncio.wait(tasks, timeout=LATENCY_GRACE_S)
        now = time.perf_counter()
        elapsed = now - start
        cpu = CpuSample.take(server).minus(cpu0)
        cut_off = [now - (start + index / rate) for index, t in enumerate(tasks) if t in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    run = recorder.run(label, count, elapsed, cpu)
    run.max_start_lag_s = max_lag
    run.cut_off_s = cut_off
    return run


def send_body(tag: str) -> Body:
    def body(index: int) -> bytes:
        return orjson.dumps({"number": RECIPIENT, "message": f"{tag} {index}"})

    return body


# --- the gateway ---


def write_config(workdir: Path, db_path: Path) -> Path:
    config = workdir / "tgw.toml"
    config.write_text(
        f"""[database]
url = "sqlite:///{db_path}"

[security]
admin_token = "{ADMIN_TOKEN}"

[limits]
messages_per_day = 10000000

[sending]
per_second = 0
per_recipient_interval_s = 0
"""
    )
    return config


def gateway_args(config: Path, *, sandbox: bool) -> list[str]:
    args = ["-m", "app", "serve", "--config", str(config), "--log-level", "warning"]
    return [*args, "--sandbox"] if sandbox else args


async def create_client(server: Server, client_id: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT_S) as http:
        response = await http.post("/admin/clients", json={"client_id": client_id}, headers=ADMIN)
    if response.status_code != 201:
        raise RuntimeError(f"POST /admin/clients: {response.status_code} {response.text}")
    secret = response.json()["client_secret"]
    return {"X-WM-CLIENT-ID": client_id, "X-WM-CLIENT-SECRET": secret}


async def register_recipient(server: Server) -> None:
    body = {"from": {"number": RECIPIENT, "first_name": "B"}, "text": "Hola"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_TIMEOUT_S) as http:
        response = await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    if response.status_code != 200 or not response.json().get("handled"):
        raise RuntimeError(f"POST /admin/sandbox/1/inbound: {response.status_code} {response.text}")


def queue_depth(db_path: Path) -> int:
    """Messages of instance 1 queued or being sent, read straight from the SQLite file.

    A plain read in WAL mode holds no lock a writer waits for, so polling this does not disturb
    the server; polling an admin endpoint would (its session begins IMMEDIATE).
    """
    with contextlib.closing(sqlite3.connect(db_path, timeout=5)) as db:
        (depth,) = db.execute(
            "SELECT count(*) FROM message WHERE instance = 1 AND status IN ('queued', 'sending')"
        ).fetchone()
    return int(depth)


async def wait_queue_empty(server: Server, db_path: Path, timeout_s: float) -> tuple[bool, float]:
    """Poll until instance 1 has nothing queued or sending: (emptied, seconds waited)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if await asyncio.to_thread(queue_depth, db_path) == 0:
            return True, time.monotonic() - t0
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
        await asyncio.sleep(POLL_INTERVAL_S)
    return False, time.monotonic() - t0


@dataclass
class Drain:
    """The worker emptying a queue after a restart. Times are epoch seconds; `first_sent` and
    `last_sent` are the server's own `sent_at` stamps of the drained messages."""

    queued: int
    sent: int
    spawned_at: float
    ready_at: float  # first /healthz answer
    first_sent: float
    last_sent: float
    completed: bool
    server_cpu_pct: float = 0.0
    other_cpu_pct: float = 0.0

    @property
    def seconds(self) -> float:
        """From startup (the worker starts just before the port opens) to the last send."""
        return self.last_sent - min(self.ready_at, self.first_sent)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_rate(self) -> float:
        span = self.last_sent - self.first_sent
        return (self.sent - 1) / span if span > 0 else 0.0

    @property
    def rate_from_spawn(self) -> float:
        """Including the interpreter start, imports and migrations."""
        span = self.last_sent - self.spawned_at
        return self.sent / span if span > 0 else 0.0


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


def drain_stats(
    db_path: Path, client_id: str, spawned_at: float, ready_at: float, completed: bool
) -> Drain:
    with contextlib.closing(sqlite3.connect(db_path, timeout=5)) as db:
        total, sent, first, last = db.execute(
            "SELECT count(*), coalesce(sum(status = 'sent'), 0), min(sent_at), max(sent_at) "
            "FROM message WHERE client_id = ?",
            (client_id,),
        ).fetchone()
    if not sent:
        return Drain(total, 0, spawned_at, ready_at, ready_at, ready_at, completed)
    return Drain(total, sent, spawned_at, ready_at, _epoch(first), _epoch(last), completed)


# --- the report ---


def code_version() -> str:
    """The commit the servers run, and whether the gateway's code differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "inbound", "outbound"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{commit or 'unknown'}{' + uncommitted changes' if dirty else ''}"


def filesystem_of(path: Path) -> str:
    best, kind = "", "?"
    with contextlib.suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


def print_table(runs: list[Run], drain: Drain) -> None:
    """CPU columns: % of one core over the run; `other` is every other process (noise)."""
    header = (
        f"{'phase':<42} {'ok/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'client':>6} {'server':>6} {'other':>6} {'non-2xx':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for run in runs:
        print(
            f"{run.label:<42} {run.rate:>6,.0f} {run.percentile_ms(50):>7.1f} "
            f"{run.percentile_ms(99):>7.1f} {run.percentile_ms(100):>7.1f} "
            f"{run.client_cpu_pct:>5.0f}% {run.server_cpu_pct:>5.0f}% "
            f"{run.other_cpu_pct:>5.0f}% {run.failures:>7}"
        )
    label = f"worker drain of {drain.queued} (msg/s)"
    print(
        f"{label:<42} {drain.rate:>6,.0f} {'':>7} {'':>7} {'':>7} {'':>6} "
        f"{drain.server_cpu_pct:>5.0f}% {drain.other_cpu_pct:>5.0f}%"
    )


def verdict(passed: bool, text: str) -> None:
    print(f"{'PASS' if passed else 'FAIL'}  {text}")


def print_targets(accept: Run, baseline: Run, latency: Run, drain: Drain, rate: float) -> None:
    print()
    verdict(
        accept.rate >= TARGET_ACCEPT_PER_S,
        f"accepted sends/s >= {TARGET_ACCEPT_PER_S:.0f} (worker running): {accept.rate:,.0f}",
    )
    ratio = accept.rate / baseline.rate if baseline.rate else 0.0
    verdict(
        ratio >= TARGET_BASELINE_RATIO,
        f"accepted / baseline >= {TARGET_BASELINE_RATIO:.0%}: {ratio:.0%} "
        f"({accept.rate:,.0f} / {baseline.rate:,.0f})",
    )
    p99 = latency.percentile_ms(99)
    verdict(
        p99 < TARGET_P99_MS and latency.failures == 0,
        f"p99 at {rate:.0f} req/s open loop < {TARGET_P99_MS:.0f} ms: {p99:.1f} ms "
        f"(p50 {latency.percentile_ms(50):.1f} ms)",
    )
    verdict(
        drain.completed and drain.rate >= TARGET_DRAIN_PER_S,
        f"worker drain >= {TARGET_DRAIN_PER_S:.0f} msg/s: {drain.rate:,.0f} msg/s "
        f"({drain.sent} of {drain.queued} sent {drain.seconds:.2f} s after startup"
        f"{'' if drain.completed else '; TIMED OUT'})",
    )


def generator_check(ceiling: Run, second: Run, runs: list[Run]) -> list[str]:
    """Is the load generator the limit? Its own ceiling is its rate on the no-DB endpoint; the
    other client on that endpoint shows whether the server or the generator ran out first."""
    lines = [
        f"load generator ceiling ({ceiling.label}): {ceiling.rate:,.0f} req/s, the generator "
        f"at {ceiling.client_cpu_pct:.0f}% and the server at {ceiling.server_cpu_pct:.0f}% of a "
        f"core ({second.label}: {second.rate:,.0f} req/s, generator "
        f"{second.client_cpu_pct:.0f}%, server {second.server_cpu_pct:.0f}%)"
    ]
    if ceiling.client_cpu_pct > 90 and second.rate > 1.2 * ceiling.rate:
        lines.append(
            "  the ceiling is the load generator's own CPU, not the server's: "
            "figures near it are the generator's"
        )
    if ceiling.rate < TARGET_ACCEPT_PER_S:
        lines.append(
            f"  this load generator cannot show {TARGET_ACCEPT_PER_S:.0f} sends/s: "
            "run again with --client raw to test that target"
        )
    for run in runs:
        share = run.rate / ceiling.rate if ceiling.rate else 0.0
        bound = share > 0.8 or run.client_cpu_pct > 90
        finding = "the load generator may be the limit" if bound else "not generator-bound"
        lines.append(
            f"  {run.label}: {share:.0%} of the ceiling, generator at "
            f"{run.client_cpu_pct:.0f}% of a core: {finding}"
        )
    return lines


# --- the benchmark ---


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warmup_failures: int = 0

    def add(self, run: Run) -> Run:
        self.runs.append(run)
        print(
            f"  {run.label}: {run.rate:,.0f} req/s, p50 {run.percentile_ms(50):.1f} ms, "
            f"p99 {run.percentile_ms(99):.1f} ms",
            flush=True,
        )
        if run.cut_off_s:
            self.notes.append(
                f"'{run.label}': {len(run.cut_off_s)} requests were still unanswered "
                f"{LATENCY_GRACE_S:.0f} s after the schedule ended; they count in the percentiles "
                "with the time they had waited, so those are lower bounds"
            )
        if run.sent < run.planned:
            self.notes.append(
                f"'{run.label}' was cut short by its time bound: {run.sent} of {run.planned} sent"
            )
        if run.failures:
            print(f"  !! {run.failures} failed: {dict(run.statuses)} {dict(run.errors)}")
            print(f"  !! first failure: {run.first_failure}")
        return run

    @property
    def failures(self) -> int:
        return self.warmup_failures + sum(run.failures for run in self.runs)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results = Results()
        self.workdir = Path(tempfile.mkdtemp(prefix="tgw-bench-", dir=args.tmpdir))
        self.db_path = self.workdir / "gateway.db"
        self.config = write_config(self.workdir, self.db_path)
        self.headers: dict[str, dict[str, str]] = {}

    async def measure(
        self,
        label: str,
        server: Server,
        path: str,
        client_id: str | None,
        count: int,
        kind: str | None = None,
    ) -> Run:
        """A warm-up (checked for failures, not tabled), then the measured closed-loop run."""
        args = self.args
        kind = kind or args.client
        headers = self.headers[client_id] if client_id else {}
        warm = await closed_loop(
            "warm-up",
            server,
            path,
            headers,
            send_body("warm-up"),
            min(args.warmup, count),
            args.concurrency,
            min(args.phase_timeout, WARMUP_TIMEOUT_S),
            kind,
        )
        self.results.warmup_failures += warm.failures
        if warm.failures:
            print(f"  !! warm-up: {warm.failures} failed; first: {warm.first_failure}")
        run = await closed_loop(
            label,
            server,
            path,
            headers,
            send_body(label),
            count,
            args.concurrency,
            args.phase_timeout,
            kind,
        )
        return self.results.add(run)

    async def baseline(self) -> tuple[Run, Run, Run]:
        """The no-DB endpoint with the load generator and with the other client (whichever is
        lower is the load generator's ceiling), then one durable INSERT per request."""
        db_url = f"sqlite:///{self.workdir / 'baseline.db'}"
        serve_args = [str(SCRIPT), "--serve-baseline", "--db", db_url]
        chosen, other = self.args.client, "raw" if self.args.client == "httpx" else "httpx"
        print("baseline server ...", flush=True)
        async with running("baseline", serve_args, self.workdir) as server:
            ceiling = await self.measure(
                f"no-DB endpoint, {chosen} client", server, "/nodb", None, self.args.requests
            )
            second = await self.measure(
                f"no-DB endpoint, {other} client", server, "/nodb", None, self.args.requests, other
            )
            baseline = await self.measure(
                "baseline: bare Starlette + 1 INSERT", server, "/insert", None, self.args.requests
            )
        return ceiling, second, baseline

    async def set_up(self) -> None:
        print("gateway set-up (tgw serve --sandbox) ...", flush=True)
        sandbox = gateway_args(self.config, sandbox=True)
        async with running("gateway-setup", sandbox, self.workdir) as server:
            for client_id in (ACCEPT_CLIENT, DRAIN_CLIENT):
                self.headers[client_id] = await create_client(server, client_id)
            await register_recipient(server)
            emptied, _ = await wait_queue_empty(server, self.db_path, QUEUE_WAIT_S)
            if not emptied:
                raise RuntimeError("the registration reply was not sent")

    async def fill(self) -> int:
        """No send worker: the accept rate alone; the accepted messages stay queued."""
        print("gateway without a send worker (tgw serve, no backend) ...", flush=True)
        no_worker = gateway_args(self.config, sandbox=False)
        async with running("gateway-noworker", no_worker, self.workdir) as server:
            await self.measure(
                "gateway accept, worker not running",
                server,
                SEND_PATH,
                DRAIN_CLIENT,
                self.args.drain_messages,
            )
        return await asyncio.to_thread(queue_depth, self.db_path)

    async def drain_then_accept(self, queued: int) -> tuple[Drain, Run, Run]:
        """Restart with the sandbox and time the worker emptying the queue; then, on the same
        server and the worker running, the accept rate and the latency at a fixed rate."""
        args = self.args
        print(f"gateway restarted with --sandbox: draining {queued} queued ...", flush=True)
        server = spawn("gateway", gateway_args(self.config, sandbox=True), self.workdir)
        try:
            ready_at = await wait_ready(server)
            cpu0, t0 = CpuSample.take(server), time.perf_counter()
            completed, _ = await wait_queue_empty(server, self.db_path, args.drain_timeout)
            cpu, elapsed = CpuSample.take(server).minus(cpu0), time.perf_counter() - t0
            drain = drain_stats(self.db_path, DRAIN_CLIENT, server.spawned_at, ready_at, completed)
            drain.server_cpu_pct = 100 * cpu.server / elapsed
            drain.other_cpu_pct = 100 * cpu.other / elapsed
            print(f"  worker drain: {drain.rate:,.0f} msg/s", flush=True)

            print("gateway, worker running ...", flush=True)
            accept = await self.measure(
                "gateway accept, worker running", server, SEND_PATH, ACCEPT_CLIENT, args.requests
            )
            emptied, waited = await wait_queue_empty(server, self.db_path, QUEUE_WAIT_S)
            self.results.notes.append(
                f"the backlog of the accept run took {waited:.1f} s to send"
                if emptied
                else f"the backlog of the accept run was still queued after {waited:.0f} s: "
                "the latency run competes with the worker sending it"
            )
            latency = await open_loop(
                f"gateway at {args.rate:.0f} req/s open loop, {args.duration:.0f} s",
                server,
                SEND_PATH,
                self.headers[ACCEPT_CLIENT],
                send_body("latency"),
                args.rate,
                args.duration,
                max_connections=args.concurrency,
                kind=args.client,
            )
            self.results.add(latency)
        finally:
            await stop(server)
        self.results.notes.append(
            f"drain: {drain.sent} of {drain.queued} sent; {drain.rate:,.0f} msg/s from startup "
            f"to the last send ({drain.seconds:.2f} s), {drain.steady_rate:,.0f} msg/s from the "
            f"first to the last send, {drain.rate_from_spawn:,.0f} msg/s from the process spawn "
            "(interpreter start, imports and migrations included)"
        )
        return drain, accept, latency

    def report(
        self, ceilings: tuple[Run, Run], baseline: Run, accept: Run, latency: Run, drain: Drain
    ) -> int:
        results = self.results
        print_table(results.runs, drain)
        print()
        for line in generator_check(*ceilings, [baseline, accept]):
            print(line)
        noisy = [(run.label, run.other_cpu_pct) for run in results.runs]
        for label, pct in [*noisy, ("worker drain", drain.other_cpu_pct)]:
            if pct > NOISY_OTHER_CPU_PCT:
                results.notes.append(
                    f"other processes used {pct:.0f}% of a core during '{label}': "
                    "that figure is understated"
                )
        if latency.max_start_lag_s > 0.005:
            results.notes.append(
                "the open-loop generator started a request up to "
                f"{1000 * latency.max_start_lag_s:.1f} ms late"
            )
        print()
        for note in results.notes:
            print(f"note: {note}")
        print_targets(accept, baseline, latency, drain, self.args.rate)
        if results.failures:
            print(f"\n{results.failures} request(s) got a non-2xx answer or none: exit status 1")
            return 1
        return 0

    async def run(self) -> int:
        args = self.args
        print(f"tgw send benchmark; code {code_version()}")
        print(
            f"{args.client} load generator, {args.requests} requests a run, concurrency "
            f"{args.concurrency}, warm-up {args.warmup}; {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.1f}; databases in {self.workdir} "
            f"({filesystem_of(self.workdir)})",
            flush=True,
        )
        try:
            ceiling, second, baseline = await self.baseline()
            await self.set_up()
            queued = await self.fill()
            drain, accept, latency = await self.drain_then_accept(queued)
        finally:
            if not args.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return self.report((ceiling, second), baseline, accept, latency, drain)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="per closed-loop run")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop workers")
    parser.add_argument("--warmup", type=int, default=500, help="requests before each run")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    parser.add_argument("--duration", type=float, default=10.0, help="open-loop seconds")
    parser.add_argument("--drain-messages", type=int, default=3000, help="queued for the drain")
    parser.add_argument("--drain-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--phase-timeout", type=float, default=20.0, help="per closed-loop run")
    parser.add_argument("--tmpdir", default=None, help="where the SQLite files go")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="raw",
        help="load generator: httpx.AsyncClient, or a minimal asyncio HTTP/1.1 client",
    )
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--db", default="", help=argparse.SUPPRESS)
    parser.add_argument("--group-db", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("requests", "concurrency", "drain_messages"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    if min(args.rate, args.duration, args.drain_timeout, args.phase_timeout) <= 0:
        parser.error("--rate, --duration and the timeouts must be positive")
    return args


def run_async(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.port, args.db, args.group_db)
        return 0
    return run_async(Bench(args).run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
