"""The composed application: everything the routes and workers share, built in one place."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from app.account.health import AccountHealth
from app.account.onboarding import Onboarding
from app.account.profile import Profiles
from app.account.sessions import Sessions
from app.db import (
    SQLITE_LOCK_WAIT_S,
    Database,
    SessionFactory,
    SqlRunner,
    WriteLock,
    open_database,
)
from app.lease import InstanceLease, LeaseTiming
from app.media_links import MediaLinks
from app.models import utcnow
from app.queueing import QueueClock, Wakeup
from app.settings import Settings
from app.telegram.port import TelegramBackend
from app.telegram.sandbox import SandboxTelegram
from app.telegram.session_store import SessionStore
from app.telegram.telethon import TelethonBackend, TelethonConfig, telethon_config
from inbound.webhooks.delivery import TOPIC as WEBHOOK_TOPIC
from inbound.webhooks.endpoints import SecretBox
from inbound.webhooks.targets import Resolver, system_resolver
from outbound.accept import Enqueuer


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.accepted = Counter(
            "tgw_messages_accepted",
            "Messages accepted through the API",
            ["kind"],
            registry=self.registry,
        )
        self.queue = Gauge(
            "tgw_queue_messages",
            "Messages by instance and status (read at scrape time)",
            ["instance", "status"],
            registry=self.registry,
        )
        self.instance_status = Gauge(
            "tgw_instance_status",
            "1 for the instance's current status (its connection and the account's condition:"
            " ready, flood_wait, restricted, frozen, banned, deactivated, revoked, ...), else 0",
            ["instance", "status"],
            registry=self.registry,
        )
        self.instance_status_since = Gauge(
            "tgw_instance_status_since_seconds",
            "Seconds since the instance entered its current status",
            ["instance"],
            registry=self.registry,
        )
        self.instance_up = Gauge(
            "tgw_instance_up",
            "1 when the instance is ready to send",
            ["instance"],
            registry=self.registry,
        )
        self.webhook_deliveries = Gauge(
            "tgw_webhook_deliveries",
            "Webhook deliveries not yet delivered, by endpoint and status (read at scrape time)",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.webhook_oldest_pending = Gauge(
            "tgw_webhook_oldest_pending_seconds",
            "Age of the oldest pending delivery per endpoint (0: none)",
            ["endpoint"],
            registry=self.registry,
        )
        self.webhook_enabled = Gauge(
            "tgw_webhook_endpoint_enabled",
            "1 while the endpoint is enabled (a 410 or the admin disables it)",
            ["endpoint"],
            registry=self.registry,
        )
        self.refused = Counter(
            "tgw_requests_refused",
            "Send requests refused, by HTTP status",
            ["status"],
            registry=self.registry,
        )


@dataclass
class Services:
    settings: Settings
    # Storage: the fields below (engine, factories, runners, write lock) are its parts, kept
    # while the code that uses them moves to `database` itself.
    database: Database
    engine: AsyncEngine
    factory: SessionFactory
    # Read-only work (auth, GET endpoints): on SQLite these never take the write lock.
    read_factory: SessionFactory
    wakeup: Wakeup
    clock: Callable[[], datetime]
    stamps: QueueClock
    # Hot-path write transactions (Core, batched; a thread of its own on SQLite).
    sql: SqlRunner
    # The send worker's and the sandbox's writes: on SQLite they do not wait for fsync.
    background_sql: SqlRunner
    enqueuer: Enqueuer
    admin_token: str
    # Seals webhook signing secrets at rest; signs media links (both from the secret_key).
    secret_box: SecretBox
    media_links: MediaLinks
    backends: dict[int, TelegramBackend] = field(default_factory=dict)
    sandboxes: dict[int, SandboxTelegram] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    # False in tests that drive workers step by step.
    run_workers: bool = True
    # How webhook hosts are resolved for the private-target check (tests swap it).
    resolve_host: Resolver = system_resolver
    # Sealed Telegram sessions (None only when no secret_key was given: tests without Telethon).
    session_store: SessionStore | None = None
    telethon: TelethonConfig | None = None
    # Logging instances in over the admin API, and their profiles (set in build_services).
    onboarding: Onboarding = field(init=False)
    profiles: Profiles = field(init=False)
    # The account's logged-in sessions at Telegram (its devices), not database sessions.
    sessions: Sessions = field(init=False)
    # Asking @SpamBot whether the account is limited, and what that does to the status.
    health: AccountHealth = field(init=False)
    # Who owns each instance's session (app/lease.py); filled by start_instances.
    leases: dict[int, InstanceLease] = field(default_factory=dict)
    # SQLite: the one write lock of the database file (it also knows when writes are refused).
    write_lock: WriteLock | None = None
    # The tasks that keep each lease and hold the instance while it is ours (app/main.py).
    owner_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop_owning(self) -> None:
        """Give every instance up: workers stopped, sessions closed, leases released."""
        tasks, self.owner_tasks = self.owner_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.stop_owning()
        await self.onboarding.close()
        for lease in self.leases.values():
            await lease.release()
        await self.database.close()


def build_services(
    settings: Settings,
    admin_token: str,
    *,
    clock: Callable[[], datetime] = utcnow,
    run_workers: bool = True,
    secret_key: str | None = None,
    telethon: TelethonConfig | None = None,
    sqlite_lock_wait_s: float = SQLITE_LOCK_WAIT_S,
) -> Services:
    """Build everything. `secret_key` seals Telegram sessions (the CLI reads it or tgw.key);
    `telethon` overrides the [telegram] section (tests pass a fake server's transport).
    `sqlite_lock_wait_s`: how long a write waits for another process's lock on a SQLite file
    before it is refused with 503 (tests shorten it).

    Webhook secrets are sealed and media links signed under the same secret_key; without one
    (tests, tools) under a key derived from the admin token, which then must not change.
    """
    webhook_key = secret_key or settings.security.secret_key or f"admin-token:{admin_token}"
    wakeup = Wakeup()

    def events_written() -> None:
        # A unit of work appended events and committed: the webhook worker looks now.
        wakeup.notify(WEBHOOK_TOPIC)

    database = open_database(
        settings.database.url, on_events=events_written, lock_wait_s=sqlite_lock_wait_s
    )
    stamps = QueueClock(clock)
    services = Services(
        settings=settings,
        database=database,
        engine=database.engine,
        factory=database.factory,
        wakeup=wakeup,
        clock=clock,
        stamps=stamps,
        # Plain sessions only read; on SQLite they begin DEFERRED and never take the write lock.
        read_factory=database.factory,
        sql=database.urgent_sql,
        background_sql=database.background_sql,
        enqueuer=Enqueuer(database, settings, wakeup, clock, stamps=stamps),
        admin_token=admin_token,
        secret_box=SecretBox.from_secret_key(webhook_key),
        media_links=MediaLinks(webhook_key, settings.public_url, clock),
        run_workers=run_workers,
        write_lock=database.write_lock,
    )
    for conf in settings.instances:
        if conf.backend == "sandbox":
            sandbox = SandboxTelegram(
                conf.number, database, wakeup, clock, password=conf.sandbox_password
            )
            services.sandboxes[conf.number] = sandbox
            services.backends[conf.number] = sandbox
    key = secret_key or settings.security.secret_key
    if key:
        services.session_store = SessionStore(database, key, clock)
    services.telethon = telethon or telethon_config(settings)
    # Telegram drops a connection that goes silent well before another process may take the
    # instance's lease over (app/lease.py).
    lease_timing = LeaseTiming(settings.telegram.lease_ttl_s)
    for conf in settings.instances:
        if conf.backend == "telethon" and services.session_store is not None:
            # Each instance reaches Telegram its own way ([[instances]] proxy).
            config = services.telethon
            if config is not None:
                config = dataclasses.replace(config, proxy=conf.proxy)
            services.backends[conf.number] = TelethonBackend(
                conf.number,
                services.session_store,
                config,
                clock,
                ping_every_s=lease_timing.ping_every_s,
                disconnect_after_s=lease_timing.telegram_disconnect_s,
            )
        # Without a secret key (tests of other parts) Telethon instances have no backend:
        # they stay logged_out and their queue holds.
    services.onboarding = Onboarding(services.backends, database, clock)
    services.profiles = Profiles(services.backends, database, clock)
    services.sessions = Sessions(services.backends)
    services.health = AccountHealth(services.backends, database, clock)
    return services
