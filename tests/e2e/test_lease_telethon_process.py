"""End to end: two `tgw serve` processes on one PostgreSQL database, one Telegram account (the
fake MTProto server), through a PostgreSQL restart and an owner stopped with kill -STOP for
longer than the lease. At every moment at most one process has a connection with the account's
key (as the fake server sees connections); the other process takes over within the lease time;
every message accepted is sent once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.private_postgres import PrivatePostgres
from tests.e2e.test_serve_process import ServeHarness, ServerProcess, create_client
from tests.e2e.test_telethon_process import GATEWAY_PHONE, PERSON, telethon_harness, tgw
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.fake_mtproto.server import Connection
from tests.waiting import eventually

LEASE_TTL_S = 6.0


def socket_inode(port: int) -> str | None:
    """The inode of the local TCP socket bound to 127.0.0.1:`port` (a client's side)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp", encoding="ascii") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted:
                return fields[9]
    return None


def owner_pid(port: int) -> int | None:
    """Which process holds the client's end of a connection (we are root: every /proc/PID/fd
    can be read)."""
    inode = socket_inode(port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()):
        with_fds = Path(f"/proc/{pid}/fd")
        try:
            for fd in with_fds.iterdir():
                try:
                    if os.readlink(fd) == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


def overlaps(connections: list[tuple[int | None, float, float]]) -> list[Any]:
    """Pairs of connections of two different processes that were open at the same time."""
    found = []
    for i, (pid_a, open_a, close_a) in enumerate(connections):
        for pid_b, open_b, close_b in connections[i + 1 :]:
            if pid_a != pid_b and open_a < close_b and open_b < close_a:
                found.append(((pid_a, open_a, close_a), (pid_b, open_b, close_b)))
    return found


async def session_owner(server: ServerProcess, harness: ServeHarness) -> str | None:
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=3) as http:
            response = await http.get("/admin/instances/1", headers=harness.admin_headers)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    value: str = response.json()["session_owner"]
    return value


async def test_two_gateways_never_both_hold_the_session_through_a_restart_and_a_pause(
    tmp_path: Path, fake: FakeTelegram, private_postgres: PrivatePostgres
) -> None:
    account = fake.add_account(GATEWAY_PHONE, first_name="Acme")
    person = fake.add_person(PERSON, first_name="Ana")
    harness = telethon_harness(
        tmp_path, fake, database_url=private_postgres.url, lease_ttl_s=LEASE_TTL_S
    )
    seen: dict[int, int | None] = {}
    retries: set[asyncio.Task[None]] = set()

    async def attribute_later(conn: Connection) -> None:
        # A read of /proc/net/tcp is not one snapshot: while other sockets open and close
        # (PostgreSQL's, the clients'), a line can be skipped. The socket is still open, so
        # a later look finds it.
        for _ in range(100):
            await asyncio.sleep(0.02)
            pid = owner_pid(conn.peer_port)
            if pid is not None:
                seen[id(conn)] = pid
                return

    def attribute(conn: Connection) -> None:
        seen[id(conn)] = owner_pid(conn.peer_port)
        if seen[id(conn)] is None:
            task = asyncio.get_running_loop().create_task(attribute_later(conn))
            retries.add(task)

    fake.on_connection = attribute
    try:
        timeline: list[str] = []
        code, out, err = await tgw(
            harness, "login", "--phone", GATEWAY_PHONE, stdin=f"{fake.login_code}\n"
        )
        assert code == 0, out + err
        gateways_from = time.monotonic()
        first = await harness.start()
        second = await harness.start()
        gateways = {first.pid: first, second.pid: second}

        async def the_owner() -> ServerProcess | None:
            owners = [
                g for g in gateways.values()
                if await session_owner(g, harness) == "this process"
            ]  # fmt: skip
            assert len(owners) <= 1, "two processes say they own the session"
            return owners[0] if owners else None

        owner = await eventually(
            the_owner, "one gateway to own the session", timeout_s=30, interval_s=0.1
        )
        async with httpx.AsyncClient(base_url=owner.base_url, timeout=10) as http:
            api = await create_client(http, harness)
        fake.person_sends(person, account, "Hola")
        await eventually(
            lambda: fake.sent_to(person), "the registration reply", timeout_s=30, interval_s=0.1
        )
        accepted: list[str] = []

        async def send_some(label: str, count: int) -> None:
            for n in range(count):
                for server in gateways.values():
                    if server.proc.poll() is not None:
                        continue
                    try:
                        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
                            response = await http.post(
                                "/v3/telegram/single/text/message/1",
                                json={"number": PERSON, "message": f"{label} {n}"},
                                headers=api,
                            )
                    except httpx.TransportError:
                        continue  # a stopped process does not answer
                    if response.status_code == 200:
                        accepted.append(f"{label} {n}")
                        break
                await asyncio.sleep(0.05)  # the pace of the clients, not a wait

        # 1. PostgreSQL restarts under both processes while messages come in.
        burst = asyncio.create_task(send_some("restart", 30))
        await eventually(lambda: accepted, "the first messages of the burst", timeout_s=10)
        await asyncio.to_thread(private_postgres.restart)
        await burst
        owner = await eventually(
            the_owner, "an owner after the restart", timeout_s=30, interval_s=0.1
        )
        timeline.append(f"owner after the restart: {owner.pid}")

        # 2. The owner is stopped (kill -STOP) for twice the lease: the other takes over.
        timeline.append(f"stopping {owner.pid} at {time.monotonic():.2f}")
        os.kill(owner.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            standby = next(g for g in gateways.values() if g is not owner)

            async def taken_over() -> bool | None:
                return True if await session_owner(standby, harness) == "this process" else None

            await eventually(
                taken_over,
                "the standby to take the session over",
                timeout_s=LEASE_TTL_S * 3,
                interval_s=0.1,
            )
            timeline.append(f"{standby.pid} took over at {time.monotonic():.2f}")
            assert time.monotonic() - stopped_at < LEASE_TTL_S * 2.5
            await send_some("paused", 10)
            remaining = LEASE_TTL_S * 2 - (time.monotonic() - stopped_at)
            if remaining > 0:  # a fixed wait is the point: stopped for twice the lease
                await asyncio.sleep(remaining)
        finally:
            os.kill(owner.pid, signal.SIGCONT)
        # The woken process gives up (it lost the lease) and never connects again meanwhile:
        # a fixed window is the point (a wrong reconnect would show as an overlap below).
        await asyncio.sleep(LEASE_TTL_S)
        await send_some("after", 10)

        async def all_sent() -> list[str] | None:
            texts = [r.text for r in fake.sent_to(person)][1:]
            return texts if set(accepted) <= set(texts) else None

        texts = await eventually(
            all_sent, "every accepted message at Telegram", timeout_s=60, interval_s=0.1
        )
        assert len(accepted) >= 30
        assert sorted(texts) == sorted(set(texts)), "a message was sent twice"
        assert set(texts) <= set(accepted) | {"restart"}  # nothing that was refused went out
    finally:
        fake.on_connection = None
        await asyncio.gather(*retries)  # before the processes stop: the sockets must be open
        await asyncio.to_thread(harness.stop_all)
    keyed = [
        (seen.get(id(c)), c.opened_at, c.closed_at or time.monotonic())
        for c in fake.connections_of(account)
        if c.opened_at >= gateways_from  # not `tgw login`'s own
    ]
    assert {pid for pid, _, _ in keyed} == set(gateways), (keyed, timeline)
    assert overlaps(keyed) == [], ("two processes were connected at once", keyed, timeline)
