"""One owner per instance: a second gateway on the same database serves HTTP but leaves the
session alone, and takes over when the owner stops (app/lease.py)."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, text

from app.cluster.ownership import make_worker, start_instances
from app.db import create_engine, open_database
from app.instances import sync_instances
from app.lease import InstanceLease, LeaseLost, LeaseTiming
from app.main import create_app
from app.models import Instance, UTCDateTime, utcnow
from app.services import Services, build_services
from app.telegram.session_store import SessionStore
from tests.conftest import ADMIN, ADMIN_TOKEN, Clock, make_settings
from tests.waiting import eventually


async def view(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/admin/instances/1", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_second_gateway_waits_and_takes_over_when_the_first_stops(
    schema: str, clock: Clock
) -> None:
    # A short lease: the standby looks for it every half second.
    settings = make_settings(schema, telegram={"lease_ttl_s": 3})
    first = build_services(settings, ADMIN_TOKEN, clock=clock, run_workers=False)
    second = build_services(settings, ADMIN_TOKEN, clock=clock, run_workers=False)
    first_tasks = await start_instances(first, workers=False)
    second_tasks = await start_instances(second, workers=False)
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(first)), base_url="http://a"
            ) as http_a,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(second)), base_url="http://b"
            ) as http_b,
        ):
            assert (await view(http_a))["session_owner"] == "this process"
            assert (await view(http_b))["session_owner"] == "another process"
            # The second one did not open the (sandbox) session: it has no update pump.
            assert second.telegram.sandboxes[1]._pump is None
            for task in first_tasks:  # the owner stops: its lease is released
                task.cancel()
            await asyncio.gather(*first_tasks, return_exceptions=True)
            await first.close()

            async def taken_over() -> bool:
                return (await view(http_b))["session_owner"] == "this process"

            await eventually(taken_over, "the second gateway to take the lease over", timeout_s=10)
            # The lease is taken first, then the session opened (own_instance in
            # app/cluster/ownership.py): a look between the two sees the lease held and no pump yet.
            await eventually(
                lambda: second.telegram.sandboxes[1]._pump is not None,
                "the second gateway to open the session it took over",
            )
    finally:
        for task in [*first_tasks, *second_tasks]:
            task.cancel()
        await asyncio.gather(*first_tasks, *second_tasks, return_exceptions=True)
        for backend in second.telegram.backends.values():
            await backend.stop()
        await second.close()


async def test_only_the_owner_logs_an_instance_in_or_out(schema: str, clock: Clock) -> None:
    first = build_services(make_settings(schema), ADMIN_TOKEN, clock=clock, run_workers=False)
    second = build_services(make_settings(schema), ADMIN_TOKEN, clock=clock, run_workers=False)
    tasks = [
        *await start_instances(first, workers=False),
        *await start_instances(second, workers=False),
    ]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(second)), base_url="http://b"
        ) as http_b:
            for path, body in (
                ("/logout", None),
                ("/login", {"phone": "4915123456789"}),
                ("/profile", {"first_name": "X"}),
            ):
                method = http_b.put if path == "/profile" else http_b.post
                response = await method(f"/admin/instances/1{path}", json=body, headers=ADMIN)
                assert response.status_code == 409, path
                assert "Another tgw process" in response.json()["error"]["message"]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for svc in (first, second):
            for backend in svc.telegram.backends.values():
                await backend.stop()
            await svc.close()


# --- the fenced lease itself ---


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lease_of(schema: str, *, ttl_s: float = 3, ticks: Ticks | None = None) -> InstanceLease:
    engine = create_engine(schema)
    return InstanceLease(
        engine, schema, 1, timing=LeaseTiming(ttl_s), monotonic=ticks or time.monotonic
    )


async def close(*leases: InstanceLease) -> None:
    for lease in leases:
        await lease.release()
        await lease._engine.dispose()


async def lose_lease(schema: str, holder: InstanceLease, taker: InstanceLease) -> None:
    """Make `taker` the holder behind `holder`'s back, as a database restart or a long pause
    would: the lease expires (and on SQLite the lock file is replaced)."""
    if not taker._postgres:
        path = holder.lock_path()
        assert path is not None
        path.unlink()
    expire = text("UPDATE instance_lease SET expires_at = :past").bindparams(
        bindparam("past", type_=UTCDateTime)
    )
    async with taker._engine.begin() as conn:
        await conn.execute(expire, {"past": utcnow() - timedelta(minutes=1)})
    assert await taker.try_acquire()


async def test_a_lease_renewed_by_its_holder_is_not_taken(schema: str) -> None:
    first, second = lease_of(schema), lease_of(schema)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert await first.renew()
        assert not await second.try_acquire()
        assert first.valid() and not second.valid()
    finally:
        await close(first, second)


async def test_the_next_holder_gets_a_greater_fencing_token(schema: str) -> None:
    first, second = lease_of(schema), lease_of(schema)
    try:
        assert await first.try_acquire()
        token = first.token
        assert token is not None
        await first.release()
        assert await second.try_acquire()
        assert second.token is not None and second.token > token
    finally:
        await close(first, second)


async def test_a_dead_holders_lease_passes_on_no_sooner_than_it_may(schema: str) -> None:
    """The holder dies without releasing. PostgreSQL: the lease passes on once it expired by
    the database's clock, not sooner. SQLite: a live holder's lock file keeps the lease even
    past its expiry; once the holder is dead (the kernel freed its lock) it passes on at once."""
    first, second = lease_of(schema, ttl_s=3), lease_of(schema, ttl_s=3)
    try:
        assert await first.try_acquire()
        started = time.monotonic()
        if schema.startswith("sqlite"):
            # A fixed wait is the point: the row's expiry (3 s) must have passed.
            await asyncio.sleep(3.2)  # expired by its row
            assert not await second.try_acquire()  # the live holder's lock still stands
            assert first._fd is not None
            os.close(first._fd)  # the holder dies: the kernel drops its lock
            first._fd, first.token = None, None
            assert await second.try_acquire()
        else:
            first.token = None  # the holder dies: nothing releases the lease
            await eventually(
                second.try_acquire, "the lease to expire", timeout_s=10, interval_s=0.1
            )
            assert time.monotonic() - started >= 3 - 0.2  # the expiry, not sooner
    finally:
        await close(first, second)


async def test_the_holder_counts_its_lease_lost_before_anyone_can_take_it(schema: str) -> None:
    ticks = Ticks()
    lease = lease_of(schema, ttl_s=30, ticks=ticks)
    try:
        assert await lease.try_acquire()
        ticks.now += lease.timing.fence_after_s - 0.01
        assert lease.valid()
        ticks.now += 0.02
        assert not lease.valid()  # at half the time to live: the session must be closed now
        assert lease.timing.fence_after_s + lease.timing.telegram_disconnect_s < 30
        # A renewal that comes back too late does not revive it.
        assert not await lease.renew()
        assert lease.token is None
    finally:
        await close(lease)


async def test_writes_of_a_holder_that_lost_the_lease_are_refused(schema: str) -> None:
    first, second = lease_of(schema), lease_of(schema)
    database = open_database(schema)
    engine = database.engine
    store = SessionStore(database, "k" * 32, utcnow)
    try:
        assert await first.try_acquire()
        await store.store(1, {"version": 1, "who": "first"}, fence=first)
        await lose_lease(schema, first, second)
        assert first.valid()  # it has not noticed yet: the token says otherwise
        with pytest.raises(LeaseLost):
            await store.store(1, {"version": 1, "who": "stale first"}, fence=first)
        async with engine.connect() as conn:
            with pytest.raises(LeaseLost):
                await conn.run_sync(first.guard_sync)
        await store.store(1, {"version": 1, "who": "second"}, fence=second)
        assert (await store.load(1)) == {"version": 1, "who": "second"}
    finally:
        await close(first, second)
        await database.close()


async def test_a_send_worker_without_the_lease_claims_nothing(services: Services) -> None:
    lease = lease_of(services.settings.database.url)
    taker = lease_of(services.settings.database.url)
    try:
        async with services.database.write() as session:
            await sync_instances(session, services.settings, services.clock())
            await session.flush()
            inst = await session.get(Instance, 1)
            assert inst is not None
            inst.status = "ready"  # so that the worker gets as far as claiming
        assert await lease.try_acquire()
        worker = make_worker(services, 1, fence=lease)
        assert await worker.step() >= 0  # holds the lease: claims as usual (nothing queued)
        await lose_lease(services.settings.database.url, lease, taker)
        with pytest.raises(LeaseLost):
            await worker.step()
    finally:
        await close(lease, taker)


async def test_a_gateway_whose_renewals_hang_closes_the_session_before_the_takeover(
    schema: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database stops answering the owner (a restart, a lost connection): the owner must
    give the session up before the lease can pass to the standby."""
    settings = make_settings(schema, telegram={"lease_ttl_s": 3})
    first = build_services(settings, ADMIN_TOKEN, clock=clock, run_workers=False)
    second = build_services(settings, ADMIN_TOKEN, clock=clock, run_workers=False)
    moments: dict[str, float] = {}
    first_tasks = await start_instances(first, workers=False)
    second_tasks = await start_instances(second, workers=False)
    owner = first.telegram.leases[1]
    assert owner.held and not second.telegram.leases[1].held

    async def hang() -> bool:
        await asyncio.Event().wait()  # never answers
        return True

    monkeypatch.setattr(owner, "renew", hang)
    if schema.startswith("sqlite"):
        # SQLite: the lock file decides; losing it is the lock file being replaced.
        monkeypatch.undo()
        path = owner.lock_path()
        assert path is not None
        path.unlink()

    def taken() -> bool:
        if "stopped" not in moments and first.telegram.sandboxes[1]._pump is None:
            moments["stopped"] = time.monotonic()
        if "taken" not in moments and second.telegram.sandboxes[1]._pump is not None:
            moments["taken"] = time.monotonic()
        return "taken" in moments

    try:
        await eventually(taken, "the standby to take the session over", timeout_s=15)
        assert "stopped" in moments, "the standby opened the session first"
        assert moments["stopped"] < moments["taken"]
    finally:
        await first.close()
        await second.close()
        await asyncio.gather(*first_tasks, *second_tasks, return_exceptions=True)
