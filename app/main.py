"""create_app(services) -> Starlette. The lifespan starts and stops the backends and workers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from app.cluster.ownership import announce, start_instances
from app.errors import DatabaseUnavailable
from app.http_limits import BodyDeadline
from app.net.pinned import Pinning, pinned_client
from app.net.targets import WEBHOOK_SETTING
from app.retention import RETENTION_TABLES, RetentionJob
from app.routes import (
    admin,
    admin_clients,
    alerts,
    callback_admin,
    cluster,
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
from inbound.webhooks.alert_endpoint import sync_alert_config
from inbound.webhooks.delivery import DeliveryWorker
from inbound.webhooks.endpoints import sync_config

log = logging.getLogger(__name__)


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
        *cluster.routes,
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
        if services.run_workers and services.settings.cluster.role == "api":
            # [cluster] role = "api": the HTTP surfaces only; the sessions, the send and
            # delivery workers and the retention job run in the `worker` processes.
            tasks = await announce(services)
        elif services.run_workers:
            await sync_webhooks(services)
            tasks = await start_instances(services)
            tasks.append(asyncio.create_task(run_delivery_worker(services), name="webhooks"))
            retention = make_retention_job(services)
            tasks.append(asyncio.create_task(retention.run(), name="retention"))
        if services.run_workers:
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
