"""What every part of bench_scale.py shares: PostgreSQL databases of their own, configs, `tgw
serve` processes by role, a load generator spread over several processes, and the report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from tests.benchmarks.bench_send import (
    CLIENT_ERRORS,
    CpuSample,
    RawConnection,
    Recorder,
    Run,
    Server,
    spawn,
    stop,
    wait_ready,
)
from tests.benchmarks.scale.group_writer import CLIENT_ID as CLIENT_ID
from tests.benchmarks.scale.group_writer import RECIPIENT as RECIPIENT

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET_KEY = "bench-secret-key-0123456789abcdef"
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CLK_TCK = os.sysconf("SC_CLK_TCK")


NATIVE_PATH = "/api/v1/messages"


def send_path(instance: int) -> str:
    return f"/v3/telegram/single/text/message/{instance}"


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} / {five:.2f} / {fifteen:.2f}"


def loadavg() -> str:
    return f"{os.getloadavg()[0]:.2f}"


# --- PostgreSQL ---


def sa_url(plain: str) -> str:
    return plain.replace("postgresql://", "postgresql+asyncpg://", 1)


@contextlib.asynccontextmanager
async def fresh_pg_database(tag: str) -> AsyncIterator[str]:
    """A database of its own on the PostgreSQL server, dropped afterwards: its plain URL."""
    name = f"tgw_bench_{tag}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# --- configuration and processes ---


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def write_config(
    path: Path,
    db_url: str,
    *,
    instances: list[dict[str, Any]] | None = None,
    sections: dict[str, dict[str, Any]] | None = None,
    default_sending: bool = False,
) -> Path:
    """A tgw.toml: the database, a known admin token and secret key, unpaced sending, no daily
    limit; `sections` adds or overrides keys; `instances` becomes [[instances]]."""
    merged: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "security": {"admin_token": ADMIN_TOKEN, "secret_key": SECRET_KEY},
        "limits": {"messages_per_day": 100_000_000},
        "sending": {"per_second": 0, "per_recipient_interval_s": 0, "pace_sandbox": False},
    }
    if default_sending:
        del merged["sending"]
    for name, values in (sections or {}).items():
        merged.setdefault(name, {}).update(values)
    lines: list[str] = []
    for name, values in merged.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        lines.append("")
    for instance in instances or []:
        lines.append("[[instances]]")
        lines += [f"{key} = {_toml(value)}" for key, value in instance.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def serve_args(config: Path, role: str | None = None, *, sandbox: bool = False) -> list[str]:
    args = ["-m", "app", "serve", "--config", str(config), "--log-level", "warning"]
    if role:
        args += ["--role", role]
    if sandbox:
        args.append("--sandbox")
    return args


class Fleet:
    """The `tgw serve` processes of one part; all stopped at the end (SIGTERM, then SIGKILL)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.servers: list[Server] = []
        self._count = 0

    async def start(self, name: str, args: list[str]) -> Server:
        self._count += 1
        server = spawn(f"{self._count:02d}-{name}", args, self.workdir)
        self.servers.append(server)
        await wait_ready(server)
        return server

    async def stop(self, server: Server) -> None:
        await stop(server)
        if server in self.servers:
            self.servers.remove(server)

    async def stop_all(self) -> None:
        await asyncio.gather(*(stop(s) for s in self.servers), return_exceptions=True)
        self.servers.clear()


@contextlib.asynccontextmanager
async def workdir(tmpdir: str | None, keep: bool, tag: str) -> AsyncIterator[Path]:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=f"tgw-scale-{tag}-", dir=tmpdir))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --- admin calls ---


async def admin_get(server: Server, path: str) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.get(path, headers=ADMIN)
    response.raise_for_status()
    return response.json()


async def create_client(server: Server) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        response = await http.post("/admin/clients", json={"client_id": CLIENT_ID}, headers=ADMIN)
    if response.status_code != 201:
        raise RuntimeError(f"POST /admin/clients: {response.status_code} {response.text}")
    secret = response.json()["client_secret"]
    return {"X-WM-CLIENT-ID": CLIENT_ID, "X-WM-CLIENT-SECRET": secret}


async def register(server: Server, instance: int, number: str = RECIPIENT) -> None:
    """`number` says Hola to the sandbox instance: a registered recipient."""
    body = {"from": {"number": number, "first_name": "B"}, "text": "Hola"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        response = await http.post(f"/admin/sandbox/{instance}/inbound", json=body, headers=ADMIN)
    if response.status_code != 200:
        raise RuntimeError(f"inbound on {instance}: {response.status_code} {response.text}")


async def wait_for(what: str, check: Any, timeout_s: float, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(httpx.HTTPError):
            found = await check()
            if found:
                return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(interval_s)


# --- load generation over several processes ---


@dataclass
class Spread:
    """Closed-loop load over several servers: connection i goes to server i mod n."""

    label: str
    servers: list[Server]
    headers: dict[str, str]
    concurrency: int
    paths: list[str] = field(default_factory=lambda: [send_path(1)])
    # The native API (POST /api/v1/messages {"to", "text"}, 202) instead of WhatsMate v3.
    native: bool = False

    async def run(
        self, duration_s: float, tag: str, max_requests: int | None = None
    ) -> tuple[Run, list[tuple[str, float, int]]]:
        """Requests for `duration_s`: the run, and (text, send time, status) of each."""
        recorder = Recorder()
        headers = {**self.headers, "Content-Type": "application/json"}
        conns = [
            RawConnection(self.servers[i % len(self.servers)]) for i in range(self.concurrency)
        ]
        sent: list[tuple[str, float, int]] = []
        next_index = 0
        limit = max_requests or 10**12
        cpu0 = time.process_time()
        servers_cpu0 = sum(cpu_seconds(s.proc.pid) for s in self.servers)
        t0 = time.perf_counter()
        stop_at = t0 + duration_s

        async def worker(conn: RawConnection) -> None:
            nonlocal next_index
            while time.perf_counter() < stop_at and next_index < limit:
                index = next_index
                next_index += 1
                path = NATIVE_PATH if self.native else self.paths[index % len(self.paths)]
                text = f"{tag} {index}"
                fields = {"to": RECIPIENT, "text": text} if self.native else None
                body = orjson.dumps(fields or {"number": RECIPIENT, "message": text})
                started = time.perf_counter()
                try:
                    status, answer = await conn.request("POST", path, headers, body)
                except CLIENT_ERRORS as exc:
                    await conn.reset()
                    recorder.fail(type(exc).__name__, str(exc))
                    sent.append((text, time.time(), 0))
                    continue
                recorder.latencies_s.append(time.perf_counter() - started)
                recorder.statuses[status] += 1
                if not 200 <= status < 300 and recorder.first_failure is None:
                    recorder.first_failure = f"HTTP {status}: {answer[:300]!r}"
                sent.append((text, time.time(), status))

        try:
            await asyncio.gather(*(worker(c) for c in conns))
        finally:
            await asyncio.gather(*(c.close() for c in conns))
        elapsed = time.perf_counter() - t0
        client = time.process_time() - cpu0
        servers = sum(cpu_seconds(s.proc.pid) for s in self.servers) - servers_cpu0
        run = recorder.run(self.label, next_index, elapsed, CpuSample(client, servers, 0.0))
        return run, sent


def describe(run: Run) -> str:
    return (
        f"{run.rate:,.0f}/s (p50 {run.percentile_ms(50):.1f} ms, p99 {run.percentile_ms(99):.1f} "
        f"ms; load generator {run.client_cpu_pct:.0f}% of a core, servers "
        f"{run.server_cpu_pct:.0f}%; {run.failures} failed)"
    )


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    print(f"== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()
