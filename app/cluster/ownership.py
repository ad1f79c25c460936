"""Which instances' sessions this process opens, and for how long.

Each instance gets an owner task. It takes the instance's lease (app/lease.py) when the lease
is free and the balancer (app/cluster/balancer.py) says this process is below its fair share;
then it opens the session and starts the send worker, and keeps the lease. It gives the
session up the moment the lease cannot be renewed, or, in an orderly handover, when the
balancer asks: the send worker finishes the batch it is sending, the session closes, and only
then is the lease released, so the next holder never overlaps with this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.cluster.balancer import Balancer
from app.cluster.forward import default_address
from app.cluster.registry import Me, ProcessRegistry
from app.instances import set_instance_status, sync_instances
from app.lease import InstanceLease, LeaseTiming
from app.lease import keep as keep_lease
from app.models import Instance
from app.services import Services
from app.vocabulary import ACCOUNT_CONDITIONS, NEEDS_LOGIN
from inbound.processor import InboundProcessor
from outbound.worker import SendWorker

log = logging.getLogger(__name__)

# How long a send worker may finish the batch it is sending when its instance is handed over
# (a batch is a few paced sends); after that it is cancelled like at a lost lease, and the
# next holder sends what it had claimed again with the same random_ids (no copy at Telegram).
HANDOVER_GRACE_S = 10.0


def make_balancer(services: Services, instances: Iterable[int] | None = None) -> Balancer:
    settings = services.settings
    timing = LeaseTiming(settings.telegram.lease_ttl_s)
    me = Me(
        id=services.process_id,
        role=settings.cluster.role,
        address=settings.cluster.advertise_url or default_address(settings),
        max_sessions=settings.cluster.max_sessions,
    )
    registry = ProcessRegistry(services.database.engine, me, ttl_s=timing.ttl_s)
    numbers = services.telegram.backends if instances is None else instances
    return Balancer(registry, numbers, every_s=timing.renew_every_s)


def make_leases(services: Services) -> dict[int, InstanceLease]:
    """One lease object per instance, held or not (an `api` process never takes one: its
    leases tell the routes that another process has the session)."""
    timing = LeaseTiming(services.settings.telegram.lease_ttl_s)
    for number in services.telegram.backends:
        if number not in services.telegram.leases:
            services.telegram.leases[number] = InstanceLease(
                services.database.engine,
                services.settings.database.url,
                number,
                owner=services.process_id,
                timing=timing,
            )
    return services.telegram.leases


async def ensure_instances(services: Services) -> None:
    """The configured instances' rows. Processes starting together may insert the same row at
    once: the loser of that race finds it there on its second try."""
    for attempt in (1, 2):
        try:
            async with services.database.write() as session:
                await sync_instances(session, services.settings, services.clock())
            return
        except IntegrityError:
            if attempt == 2:
                raise


async def announce(services: Services) -> list[asyncio.Task[None]]:
    """An `api` process: registered (GET /admin/cluster lists it), holding no session; its
    leases only tell the routes that another process has each session."""
    await ensure_instances(services)
    make_leases(services)
    balancer = services.telegram.balancer = make_balancer(services, instances=())
    task = asyncio.create_task(balancer.run(), name="balancer")
    services.telegram.owner_tasks.append(task)
    return [task]


async def start_instances(services: Services, *, workers: bool = True) -> list[asyncio.Task[None]]:
    """Register this process, take the leases of its share of the instances, open those
    sessions and start their send workers; then keep owner tasks running for every instance
    (each takes its instance over whenever the lease is free and the share allows)."""
    await ensure_instances(services)
    balancer = services.telegram.balancer = make_balancer(services)
    try:
        await balancer.beat()
    except Exception as exc:  # the database is away: the leases alone decide
        log.warning("cluster: could not register this process: %r", exc)
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(balancer.run(), name="balancer")]
    for number, lease in make_leases(services).items():
        running: RunningInstance | None = None
        if balancer.claim(number):
            if await _try_lease(lease):
                running = await _start_owned(services, lease, workers)
            if running is None:
                balancer.drop(number)
        if running is None:
            log.info(
                "instance %s: held by another process (or over this one's share); serving"
                " HTTP only and taking over when it is free",
                number,
            )
        tasks.append(
            asyncio.create_task(
                own_instance(services, lease, running, workers, balancer),
                name=f"instance-owner-{number}",
            )
        )
    services.telegram.owner_tasks.extend(tasks)
    return tasks


async def _try_lease(lease: InstanceLease) -> bool:
    try:
        return await lease.try_acquire()
    except Exception as exc:  # the database is away: the next round tries again
        log.warning("instance %s: could not take the lease: %r", lease.instance, exc)
        return False


@dataclass
class RunningInstance:
    """An instance this process has open: its backend is started, its worker runs, and the
    keeper renews its lease (from the moment it was taken: opening the session takes time)."""

    number: int
    worker: asyncio.Task[None] | None
    keeper: asyncio.Task[None] | None = None
    sender: SendWorker | None = None


async def _start_owned(
    services: Services, lease: InstanceLease, workers: bool
) -> RunningInstance | None:
    keeper = asyncio.create_task(keep_lease(lease), name=f"lease-keeper-{lease.instance}")
    try:
        running = await start_instance(services, lease.instance, workers=workers, fence=lease)
    except Exception:
        log.exception("instance %s: could not open the session; trying again", lease.instance)
        await stop_instance(services, RunningInstance(lease.instance, None, keeper))
        await lease.release()
        return None
    running.keeper = keeper
    return running


async def _hold(running: RunningInstance, handover: asyncio.Event) -> bool:
    """Wait until the lease is lost (False) or a handover is asked for (True)."""
    assert running.keeper is not None
    asked = asyncio.create_task(handover.wait())
    try:
        await asyncio.wait({running.keeper, asked}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        asked.cancel()
    return handover.is_set() and not running.keeper.done()


async def own_instance(
    services: Services,
    lease: InstanceLease,
    running: RunningInstance | None,
    workers: bool,
    balancer: Balancer,
) -> None:
    """Hold the instance while the lease is ours and the share allows; when the lease is lost,
    stop using the session at once; take the instance (back) over when the lease is free."""
    number = lease.instance
    pause_s = lease.timing.renew_every_s
    while True:
        while running is None:
            if balancer.claim(number):
                if await _try_lease(lease):
                    log.info("instance %s: the lease is free; opening the session", number)
                    running = await _start_owned(services, lease, workers)
                if running is not None:
                    break
                balancer.drop(number)
            await asyncio.sleep(pause_s)
        handed_over = False
        try:
            handed_over = await _hold(running, balancer.handover_asked(number))
        finally:
            # Cancelled (shutdown), lost or handed over: either way the session is given up
            # before the lease can pass to another process. Unless the lease is lost (then at
            # once), the send worker may finish the batch it is sending.
            assert running.keeper is not None
            grace = 0.0 if running.keeper.done() else HANDOVER_GRACE_S
            await stop_instance(services, running, grace_s=grace)
            running = None
            await lease.release()
            balancer.drop(number)
        if handed_over:
            services.metrics.cluster_handovers.inc()
            log.info("instance %s: handed over (its session is closed, its lease free)", number)
        else:
            log.warning("instance %s: the lease is lost; the session was closed", number)
        # Leave the lease to another process for a while: it looks every renew_every_s. Alone,
        # this process takes it back after the pause.
        await asyncio.sleep(2 * pause_s)


async def stop_instance(services: Services, running: RunningInstance, grace_s: float = 0) -> None:
    """Stop the worker (letting it finish its batch for up to `grace_s`), then the keeper's
    renewals, then the session."""
    if running.worker is not None:
        if running.sender is not None and grace_s > 0:
            await running.sender.stop(running.worker, grace_s)
        running.worker.cancel()
        with contextlib.suppress(BaseException):
            await running.worker
    if running.keeper is not None and not running.keeper.done():
        running.keeper.cancel()
        with contextlib.suppress(BaseException):
            await running.keeper
    try:
        await services.telegram.backends[running.number].stop()
    except Exception:
        log.exception("instance %s: stopping the backend failed", running.number)


async def start_instance(
    services: Services, number: int, *, workers: bool = True, fence: InstanceLease | None = None
) -> RunningInstance:
    """Connect one backend we hold the lease of, record its account, start its worker."""
    backend = services.telegram.backends[number]
    processor = InboundProcessor(
        number,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
        services.stamps,
    )
    await backend.start(processor, fence=fence)
    account = await backend.me()
    now = services.clock()
    async with services.database.write() as session:
        inst = await session.get(Instance, number)
        assert inst is not None
        if account is not None:
            inst.phone = account.phone
            inst.user_id = account.user_id
            # (A restricted or frozen account stays so across a restart.)
            if inst.status != "ready" and inst.status not in ACCOUNT_CONDITIONS:
                await set_instance_status(session, inst, "ready", None, now)
        elif inst.status not in NEEDS_LOGIN:
            # No session: logged out, unless the backend says why (revoked, banned, deleted);
            # it may have reported that already.
            await set_instance_status(session, inst, "logged_out", None, now)
    conf = services.settings.instance(number)
    if account is not None and conf is not None:
        try:
            if await services.accounts.profiles.apply_config(number, conf.profile):
                log.info("instance %s: [instances.profile] applied", number)
        except Exception:
            log.exception("instance %s: could not apply [instances.profile]", number)
    if not workers:
        return RunningInstance(number, None)
    worker = make_worker(services, number, fence=fence)
    task = asyncio.create_task(worker.run(), name=f"send-worker-{number}")
    return RunningInstance(number, task, sender=worker)


def make_worker(services: Services, number: int, **kwargs: Any) -> SendWorker:
    conf = services.settings.instance(number)
    pace_sandbox = services.settings.sending.pace_sandbox
    paced = conf is not None and (conf.backend != "sandbox" or pace_sandbox)
    return SendWorker(
        number,
        services.telegram.backends[number],
        services.database,
        services.settings.sending,
        services.wakeup,
        services.clock,
        paced=kwargs.pop("paced", paced),
        mark_read_on_reply=conf is not None and conf.mark_read_on_reply,
        **kwargs,
    )
