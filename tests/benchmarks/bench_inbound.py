"""Benchmark of the inbound path: how fast messages people send are stored and announced.

A script, not a pytest test. From the repository root:

    python tests/benchmarks/bench_inbound.py [--messages N] [--people P] [--database URL]

In one process, on a fresh SQLite file (or the PostgreSQL database given), with the sandbox
backend and the real inbound processor:

1. `burst`: N messages from P registered people pile up while the sandbox's pump is stopped,
   then the pump starts and hands them over in batches, as after a restart or under load. One
   message in 50 is a greeting (the registration dialogue answers it) and one sender in 10 is
   not registered (one hint a day), so the batches are mixed as in production.
2. `single`: N ordinary messages handed to the processor one update at a time, as the Telethon
   backend does.

Prints messages per second for each.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables)
from app.db import async_url, create_engine
from app.instances import sync_instances
from app.services import Services, build_services
from app.settings import Settings
from app.telegram.port import IncomingMessage, Sender
from app.telegram.sandbox import InboundPerson, SandboxTelegram
from inbound.processor import InboundProcessor


def settings(url: str) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": url},
            "security": {"admin_token": "bench-admin-token"},
            "instances": [{"number": 1, "backend": "sandbox"}],
            "sending": {"per_second": 0, "per_recipient_interval_s": 0},
            "limits": {"max_recipients": 100_000},
        }
    )


def processor(svc: Services) -> InboundProcessor:
    return InboundProcessor(
        1,
        svc.database,
        svc.settings,
        svc.wakeup,
        svc.clock,
        svc.stamps,
    )


def number(person: int) -> str:
    return f"346{person:08d}"


async def burst(svc: Services, messages: int, people: int) -> float:
    sandbox = SandboxTelegram(1, svc.database, svc.wakeup, svc.clock)
    await sandbox.ensure_account()
    proc = processor(svc)
    # Register everyone but one in ten.
    await sandbox.start(proc)
    last = 0
    for person in range(people):
        if person % 10 != 9:
            _, last = await sandbox.inbound(InboundPerson(number(person), "P"), text="Hi")
    assert await sandbox.wait_consumed(last, 60)
    await sandbox.stop()
    pending = []
    for i in range(messages):
        text = "Hola" if i % 50 == 49 else f"message {i}"
        person = InboundPerson(number(i % people), f"P{i}")
        pending.append(sandbox.inbound(person, text=text))
    results: list[Any] = await asyncio.gather(*pending)
    last = max(update_id for _, update_id in results)
    started = time.perf_counter()
    await sandbox.start(proc)
    assert await sandbox.wait_consumed(last, 600)
    elapsed = time.perf_counter() - started
    await sandbox.stop()
    return messages / elapsed


async def single(svc: Services, messages: int, people: int) -> float:
    proc = processor(svc)
    senders = [
        Sender(user_id=900_000 + p, access_hash=p, phone=number(50_000 + p), first_name="S")
        for p in range(people)
    ]
    for index, sender in enumerate(senders):
        await proc(IncomingMessage(10_000_000 + index, datetime.now(UTC), sender, text="Hi"))
    started = time.perf_counter()
    for i in range(messages):
        sender = senders[i % people]
        await proc(IncomingMessage(20_000_000 + i, datetime.now(UTC), sender, text=f"m {i}"))
    return messages / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument(
        "--database",
        help="a PostgreSQL URL: the run gets a schema of its own there, dropped after "
        "(default: a fresh SQLite file)",
    )
    args = parser.parse_args()
    schema = f"bench_inbound_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        if args.database:
            await _schema(args.database, f'CREATE SCHEMA "{schema}"')
            separator = "&" if "?" in args.database else "?"
            url = f"{args.database}{separator}search_path={schema}"
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        await engine.dispose()
        svc = build_services(settings(url), "bench-admin-token", run_workers=False)
        try:
            async with svc.database.write() as session:
                await sync_instances(session, svc.settings, svc.clock())
            rate = await burst(svc, args.messages, args.people)
            print(f"burst : {args.messages} messages through the pump: {rate:8.0f} msg/s")
            rate = await single(svc, args.messages // 5, args.people)
            print(f"single: {args.messages // 5} messages one at a time: {rate:8.0f} msg/s")
        finally:
            await svc.close()
            if args.database:
                await _schema(args.database, f'DROP SCHEMA "{schema}" CASCADE')


async def _schema(url: str, statement: str) -> None:
    admin = create_async_engine(async_url(url))
    async with admin.begin() as conn:
        await conn.execute(text(statement))
    await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
