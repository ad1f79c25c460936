"""Part rss: memory of one `tgw serve --role worker` holding Telethon sessions.

The fake Telegram (tests/telegram/fake_mtproto, real MTProto over TCP) runs in this process with
one account per instance. Each instance's session is written sealed into the database the way a
login leaves it (an auth key the fake server knows as logged in to that account, the DC's
address, the account record), as tests/telegram/test_session_store.py builds one: logging a
hundred accounts in through `tgw login` would take minutes. Then a worker is started with 1, 10
and 100 instances in its config, and its VmRSS read once GET /admin/instances shows every
instance ready and GET /admin/cluster shows it holds them all, after the sessions have idled
connected a few seconds. The baseline is the same command with no instance.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# A session as a login leaves it is built with Telethon's own key type (as the tests of
# tests/telegram/ build one).
from telethon.crypto import AuthKey  # noqa: TID251

from app.db.database import open_database
from app.telegram import port
from app.telegram.session_store import SessionStore, SessionWriter
from app.telegram.telethon.session import DatabaseSession, _account_dict
from tests.benchmarks.scale.common import (
    SECRET_KEY,
    Fleet,
    admin_get,
    fresh_pg_database,
    loadavg,
    machine,
    rss_mib,
    sa_url,
    serve_args,
    table,
    wait_for,
    workdir,
    write_config,
)
from tests.telegram.fake_mtproto import FakeTelegram

IDLE_S = 10.0
TARGET_MIB = 1024.0


def phone_of(instance: int) -> str:
    return f"49151{instance:07d}"


async def seal_sessions(url: str, fake: FakeTelegram, count: int) -> None:
    """A logged-in session for instances 1..count, each on an account of the fake server."""
    database = open_database(url)
    store = SessionStore(database, SECRET_KEY, lambda: datetime.now(UTC))
    try:
        for instance in range(1, count + 1):
            account = fake.add_account(phone_of(instance), first_name=f"Bench {instance}")
            key = os.urandom(256)
            record = fake._register_key(key)
            record.user_id = account.user_id
            record.logged_in_at = record.active_at = datetime.now(UTC)
            session = DatabaseSession(SessionWriter(store, instance))
            session.set_dc(fake.dc_id, fake.host, fake.port)
            session.auth_key = AuthKey(key)
            session.account = _account_dict(
                port.Account(
                    user_id=account.user_id,
                    phone=account.phone,
                    first_name=account.first_name,
                    last_name=None,
                    username=None,
                )
            )
            session.save()
            await session._writer.flush()
    finally:
        await database.close()


def config_for(wd: Path, url: str, key_file: Path, fake: FakeTelegram, count: int) -> Path:
    return write_config(
        wd / f"tgw-{count}.toml",
        sa_url(url),
        instances=[{"number": n, "backend": "telethon"} for n in range(1, count + 1)],
        sections={
            "telegram": {
                "api_id": 12345,
                "api_hash": "0123456789abcdef0123456789abcdef",
                "server": f"{fake.host}:{fake.port}",
                "dc_id": fake.dc_id,
                "public_key_file": str(key_file),
            }
        },
    )


async def instances_ready(server: Any, count: int) -> bool:
    listed = await admin_get(server, "/admin/instances")
    items = listed["data"] if isinstance(listed, dict) else listed
    ready = [i for i in items if i["status"] == "ready"]
    if len(ready) < count:
        return False
    cluster = await admin_get(server, "/admin/cluster")
    mine = next(p for p in cluster["processes"] if p["this_process"])
    return len(mine["instances"]) >= count


async def rss(args: argparse.Namespace) -> None:
    sizes = [0, 1, 10, 100]
    print(f"\n# rss: {machine()}; worker with {sizes} Telethon instances, idle {IDLE_S:.0f} s")
    rows: list[list[str]] = []
    fake = FakeTelegram()
    await fake.start()
    try:
        async with (
            workdir(args.tmpdir, args.keep, "rss") as wd,
            fresh_pg_database("rss") as url,
        ):
            key_file = wd / "server-key.pem"
            fake.write_public_key(key_file)
            fleet = Fleet(wd)
            baseline = 0.0
            try:
                for count in sizes:
                    config = config_for(wd, url, key_file, fake, count)
                    t0 = time.monotonic()
                    worker = await fleet.start(f"worker-{count}", serve_args(config, "worker"))
                    if count == 0:
                        # Started once: migrated; now the sessions of every later run.
                        await seal_sessions(sa_url(url), fake, max(sizes))
                    else:
                        await wait_for(
                            f"{count} instances ready",
                            lambda w=worker, c=count: instances_ready(w, c),
                            60 + count,
                            0.5,
                        )
                    ready_s = time.monotonic() - t0
                    await asyncio.sleep(IDLE_S)
                    mib = rss_mib(worker.proc.pid)
                    connections = fake.connection_count
                    baseline = baseline or mib
                    print(f"  {count} instances: {mib:,.0f} MiB (ready in {ready_s:.1f} s)")
                    rows.append(
                        [
                            str(count),
                            f"{mib:,.0f}",
                            f"{mib - baseline:,.0f}",
                            f"{(mib - baseline) / count:.1f}" if count else "",
                            f"{ready_s:.1f}",
                            str(connections),
                            loadavg(),
                        ]
                    )
                    await fleet.stop(worker)
            finally:
                await fleet.stop_all()
    finally:
        await fake.stop()
    table(
        f"rss (PostgreSQL, one tgw serve --role worker, fake MTProto; {machine()})",
        ["instances", "VmRSS MiB", "over 0", "MiB each", "ready after s", "open conns", "load"],
        rows,
    )
    print(f"  target: under {TARGET_MIB:,.0f} MiB with 100 instances")
