"""create_app(services) -> Starlette. The lifespan starts and stops the backends and workers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from app.errors import DatabaseUnavailable
from app.http_limits import BodyDeadline
from app.instances import set_instance_status, sync_instances
from app.lease import InstanceLease, LeaseTiming
from app.lease import keep as keep_lease
from app.models import Instance
from app.net.pinned import Pinning, pinned_client
from app.net.targets import WEBHOOK_SETTING
from app.retention import RETENTION_TABLES, RetentionJob
from app.routes import (
    admin,
    admin_clients,
    alerts,
    callback_admin,
    console,
    conversations,
    docs,
    event_queues,
    event_stream,
    groups,
    health,
    media,
    message_actions,
    messages,
    onboarding,
    queue_control,
    reachability,
    webhooks,
    whatsmate,
    whatsmate_v1,
)
from app.routes.surface import mounts
from app.routes.surfaces import ADMIN, CONSOLE, MEDIA, NATIVE, ROOT, WHATSMATE, WHATSMATE_V1
from app.services import Services
from app.vocabulary import ACCOUNT_CONDITIONS, NEEDS_LOGIN
from inbound.processor import InboundProcessor
from inbound.webhooks.alert_endpoint import sync_alert_config
from inbound.webhooks.delivery import DeliveryWorker
from inbound.webhooks.endpoints import sync_config
from outbound.worker import SendWorker

log = logging.getLogger(__name__)


async def start_instances(services: Services, *, workers: bool = True) -> list[asyncio.Task[None]]:
    """Take each instance's lease; connect the backends we own and start their send workers.

    An instance whose lease another process holds is served over HTTP but not opened here. Each
    instance gets a task that keeps its lease, gives the session up the moment the lease cannot
    be renewed, and takes the instance (back) over whenever the lease is free (app/lease.py).
    """
    now = services.clock()
    async with services.database.write() as session:
        await sync_instances(session, services.settings, now)
    timing = LeaseTiming(services.settings.telegram.lease_ttl_s)
    tasks: list[asyncio.Task[None]] = []
    for number in services.telegram.backends:
        lease = InstanceLease(
            services.database.engine, services.settings.database.url, number, timing=timing
        )
        services.telegram.leases[number] = lease
        running: RunningInstance | None = None
        if await _try_lease(lease):
            running = await _start_owned(services, lease, workers)
        if running is None:
            log.warning(
                "instance %s: another process holds its Telegram session; serving HTTP only"
                " and taking over if that process stops",
                number,
            )
        tasks.append(
            asyncio.create_task(
                own_instance(services, lease, running, workers), name=f"instance-owner-{number}"
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


async def own_instance(
    services: Services, lease: InstanceLease, running: RunningInstance | None, workers: bool
) -> None:
    """Hold the instance while the lease is ours; when it is lost, stop using the session at
    once; take the instance (back) over when the lease is free again."""
    while True:
        while running is None:
            if await _try_lease(lease):
                log.info("instance %s: the lease is free; opening the session", lease.instance)
                running = await _start_owned(services, lease, workers)
                if running is not None:
                    break
            await asyncio.sleep(lease.timing.renew_every_s)
        try:
            assert running.keeper is not None
            await running.keeper  # returns when the lease is lost
        finally:
            # Cancelled (shutdown) or lost: either way the session is given up before the
            # lease can pass to another process.
            await stop_instance(services, running)
            running = None
            await lease.release()
        log.warning("instance %s: the lease is lost; the session was closed", lease.instance)
        # Leave the lease to a standby for a while: it looks every renew_every_s. Alone, this
        # process takes it back after the pause.
        await asyncio.sleep(2 * lease.timing.renew_every_s)


async def stop_instance(services: Services, running: RunningInstance) -> None:
    if running.keeper is not None and not running.keeper.done():
        running.keeper.cancel()
        with contextlib.suppress(BaseException):
            await running.keeper
    if running.worker is not None:
        running.worker.cancel()
        with contextlib.suppress(BaseException):
            await running.worker
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
    return RunningInstance(number, asyncio.create_task(worker.run(), name=f"send-worker-{number}"))


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


async def sync_webhooks(services: Services) -> None:
    """Make the `[[webhooks]]` and `[alerts] url` of the config exist (before the delivery
    worker starts)."""
    async with services.database.write() as session:
        await sync_config(session, services.settings, services.secret_box, services.clock())
        await sync_alert_config(session, services.settings, services.secret_box, services.clock())


def webhook_client(services: Services) -> httpx.AsyncClient:
    """The delivery worker's HTTP client: never follows redirects; one pool for all; every
    connection made to an address checked as it is made (app/net/pinned.py)."""
    # httpx logs every request at INFO: at hundreds of deliveries a second that is noise (and
    # CPU); every attempt is in the delivery log instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    pinning = Pinning(
        resolve=services.resolve_host,
        allow_private=services.settings.webhook_delivery.allow_private_targets,
        setting=WEBHOOK_SETTING,
    )
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
    return pinned_client(pinning, limits=limits, network=services.network)


def make_delivery_worker(
    services: Services, client: httpx.AsyncClient, **kwargs: Any
) -> DeliveryWorker:
    return DeliveryWorker(
        services.database,
        services.settings.webhook_delivery,
        services.secret_box,
        services.wakeup,
        services.clock,
        client,
        media_link=services.media_links.url,
        resolve=kwargs.pop("resolve", services.resolve_host),
        **kwargs,
    )


async def run_delivery_worker(services: Services) -> None:
    async with webhook_client(services) as client:
        await make_delivery_worker(services, client).run()


def make_retention_job(services: Services) -> RetentionJob:
    """The retention job ([retention]); its deletions count in tgw_retention_deleted_total."""

    def deleted(table: str, count: int) -> None:
        services.metrics.retention_deleted.labels(table).inc(count)

    for table in RETENTION_TABLES:  # every series from the start, at 0
        services.metrics.retention_deleted.labels(table)
    return RetentionJob(
        services.database, services.settings.retention, services.clock, on_deleted=deleted
    )


CHECKPOINT_INTERVAL_S = 1.0


async def checkpoint_sqlite(services: Services) -> None:
    """Keep the SQLite WAL short: commits do not checkpoint (see app/db.py), this task does."""
    failing: str | None = None  # an outage is logged once, not every second
    while True:
        await asyncio.sleep(CHECKPOINT_INTERVAL_S)
        try:
            await services.database.background_sql.checkpoint()
        except DatabaseUnavailable as exc:  # the next round tries again; the WAL only grows
            if failing != exc.reason:
                log.warning("WAL checkpoint refused while the database is unavailable: %s", exc)
            failing = exc.reason
            continue
        except Exception:
            log.exception("WAL checkpoint failed")
            continue
        if failing is not None:
            log.info("WAL checkpoints work again")
            failing = None


# In matching order: the console's few paths before the rest of /admin; the root surface last,
# where every path no other surface serves is answered (404 in the native shape).
SURFACES = (WHATSMATE, WHATSMATE_V1, NATIVE, CONSOLE, ADMIN, MEDIA, ROOT)


def all_routes() -> list[BaseRoute]:
    """Every operation of the gateway, each declared by its module with its surface."""
    return [
        *whatsmate.routes,
        *whatsmate_v1.routes,
        *messages.routes,
        *event_stream.routes,
        *message_actions.routes,
        *queue_control.routes,
        *conversations.routes,
        *event_queues.routes,
        *reachability.routes,
        *admin_clients.routes,
        *admin.routes,
        *callback_admin.routes,
        *alerts.routes,
        *groups.routes,
        *onboarding.routes,
        *console.routes,
        *webhooks.routes,
        *media.routes,
        *health.routes,
        *docs.routes,
    ]


def create_app(services: Services) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        if services.wakeup_relay is not None:  # PostgreSQL: wake-ups across processes
            services.wakeup_relay.start()
        if services.run_workers:
            await sync_webhooks(services)
            tasks = await start_instances(services)
            tasks.append(asyncio.create_task(run_delivery_worker(services), name="webhooks"))
            retention = make_retention_job(services)
            tasks.append(asyncio.create_task(retention.run(), name="retention"))
            if services.database.engine.dialect.name == "sqlite":
                tasks.append(asyncio.create_task(checkpoint_sqlite(services), name="checkpoint"))
            # The event stream's tail (without workers, e.g. in tests, the first stream starts
            # it).
            await services.event_tail.start()
            # What exists now lives as long as the process: keep the garbage collector from
            # scanning it again and again (fewer and shorter pauses under load).
            gc.freeze()
        try:
            yield
        finally:
            # Open event streams end (reason `shutdown`) before the database closes.
            await services.event_tail.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for backend in services.telegram.backends.values():
                await backend.stop()
            await services.close()

    server = services.settings.server
    body_deadline = Middleware(
        BodyDeadline,
        timeout_s=server.body_timeout_s,
        min_rate_bytes_s=server.min_body_rate_bytes_s,
        min_rate_after_s=server.min_body_rate_after_s,
    )
    app = Starlette(
        middleware=[body_deadline],
        routes=mounts(SURFACES, all_routes()),
        lifespan=lifespan,
    )
    app.state.services = services
    return app
