"""The composed application: everything the routes and workers share, built in one place."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpcore

from app.account.health import AccountHealth
from app.account.onboarding import Onboarding
from app.account.profile import Profiles
from app.account.sessions import Sessions
from app.cluster.balancer import Balancer
from app.db import (
    SQLITE_LOCK_WAIT_S,
    Database,
    open_database,
)
from app.event_feed import EventFeed
from app.history.backfill import Backfills
from app.lease import InstanceLease, LeaseTiming, process_owner_id
from app.media_links import MediaLinks
from app.metrics import Metrics
from app.models import utcnow
from app.net.targets import Resolver, system_resolver
from app.queueing import QueueClock, Wakeup
from app.settings import Settings
from app.telegram.port import TelegramBackend
from app.telegram.sandbox import SandboxTelegram
from app.telegram.session_store import SessionStore
from app.telegram.telethon import TelethonBackend, TelethonConfig, telethon_config
from app.wakeups import WakeupRelay, relay_events
from inbound.stream.tail import EventTail
from inbound.webhooks.delivery import TOPIC as WEBHOOK_TOPIC
from inbound.webhooks.endpoints import SecretBox
from outbound.accept import Enqueuer


@dataclass
class Telegram:
    """The instances' Telegram sessions: their backends and who owns them."""

    backends: dict[int, TelegramBackend] = field(default_factory=dict)
    # The sandbox instances among them (the sandbox API's controls).
    sandboxes: dict[int, SandboxTelegram] = field(default_factory=dict)
    # Sealed Telegram sessions (None only when no secret_key was given: tests without Telethon).
    session_store: SessionStore | None = None
    telethon: TelethonConfig | None = None
    # Who owns each instance's session (app/lease.py); filled by start_instances.
    leases: dict[int, InstanceLease] = field(default_factory=dict)
    # The tasks that keep each lease and hold the instance while it is ours
    # (app/cluster/ownership.py), and the balancer's.
    owner_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # This process's fair share of the instances (app/cluster/balancer.py); set at start.
    balancer: Balancer | None = None

    async def stop_owning(self) -> None:
        """Give every instance up: workers stopped, sessions closed, leases released."""
        tasks, self.owner_tasks = self.owner_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class Accounts:
    """Account lifecycle over the admin API (app/account/)."""

    # Logging instances in, and their profiles.
    onboarding: Onboarding
    profiles: Profiles
    # The account's logged-in sessions at Telegram (its devices), not database sessions.
    sessions: Sessions
    # Asking @SpamBot whether the account is limited, and what that does to the status.
    health: AccountHealth


@dataclass
class Services:
    """The running gateway: what the routes, the workers and the CLI share, built once."""

    settings: Settings
    # Storage: read(), write(), run(core_fn, urgent=...) (app/db/database.py).
    database: Database
    clock: Callable[[], datetime]
    wakeup: Wakeup
    # Wakes every reader of the event log (stream, pull queues) after events were committed.
    event_feed: EventFeed
    # The shared tail of the event log that feeds every open event stream (inbound/stream/).
    event_tail: EventTail
    stamps: QueueClock
    # Accepting sends (authentication, quota, idempotency, the durable enqueue).
    enqueuer: Enqueuer
    telegram: Telegram
    accounts: Accounts
    admin_token: str
    # Seals webhook signing secrets at rest; signs media links (both from the secret_key).
    secret_box: SecretBox
    media_links: MediaLinks
    metrics: Metrics = field(default_factory=Metrics)
    # Backfills of conversations: one per instance at a time, FloodWaits remembered.
    backfills: Backfills = field(default_factory=Backfills)
    # How webhook and media hosts are resolved for the private-target check (tests swap it).
    resolve_host: Resolver = system_resolver
    # How pinned connections (app/net/pinned.py) reach the network: None for real; tests
    # record where they connect, or send them to a local server.
    network: httpcore.AsyncNetworkBackend | None = None
    # False in tests that drive workers step by step.
    run_workers: bool = True
    # This process in the deployment: its row in cluster_process and the owner of its leases.
    process_id: str = field(default_factory=process_owner_id)
    # Carries wake-ups to the other processes on PostgreSQL (app/wakeups.py; idle on SQLite).
    wakeup_relay: WakeupRelay | None = None

    async def stop_owning(self) -> None:
        await self.telegram.stop_owning()

    async def close(self) -> None:
        await self.event_tail.close()
        await self.telegram.stop_owning()
        await self.accounts.onboarding.close()
        for lease in self.telegram.leases.values():
            await lease.release()
        await self.enqueuer.clients.settle()  # the last_used_at writes under way
        if self.wakeup_relay is not None:
            await self.wakeup_relay.close()
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
    event_feed = EventFeed()
    # A unit of work appended events and committed: the webhook worker looks now, and so do the
    # readers of the event stream and the pull queues (in every process: app/wakeups.py).
    events_written = relay_events(wakeup, event_feed, WEBHOOK_TOPIC)
    metrics = Metrics()
    database = open_database(
        settings.database.url, on_events=events_written, lock_wait_s=sqlite_lock_wait_s
    )
    stamps = QueueClock(clock)
    telegram = Telegram()
    for conf in settings.instances:
        if conf.backend == "sandbox":
            sandbox = SandboxTelegram(
                conf.number, database, wakeup, clock, password=conf.sandbox_password
            )
            telegram.sandboxes[conf.number] = sandbox
            telegram.backends[conf.number] = sandbox
    key = secret_key or settings.security.secret_key
    if key:
        telegram.session_store = SessionStore(database, key, clock)
    telegram.telethon = telethon or telethon_config(settings)
    # Telegram drops a connection that goes silent well before another process may take the
    # instance's lease over (app/lease.py).
    lease_timing = LeaseTiming(settings.telegram.lease_ttl_s)
    for conf in settings.instances:
        if conf.backend == "telethon" and telegram.session_store is not None:
            # Each instance reaches Telegram its own way ([[instances]] proxy).
            config = telegram.telethon
            if config is not None:
                config = dataclasses.replace(config, proxy=conf.proxy)
            telegram.backends[conf.number] = TelethonBackend(
                conf.number,
                telegram.session_store,
                config,
                clock,
                ping_every_s=lease_timing.ping_every_s,
                disconnect_after_s=lease_timing.telegram_disconnect_s,
            )
        # Without a secret key (tests of other parts) Telethon instances have no backend:
        # they stay logged_out and their queue holds.
    backends = telegram.backends
    return Services(
        settings=settings,
        database=database,
        clock=clock,
        wakeup=wakeup,
        event_feed=event_feed,
        event_tail=EventTail(database, event_feed, poll_s=settings.event_stream.poll_s),
        stamps=stamps,
        enqueuer=Enqueuer(database, settings, wakeup, clock, stamps=stamps),
        telegram=telegram,
        accounts=Accounts(
            onboarding=Onboarding(backends, database, clock),
            profiles=Profiles(backends, database, clock),
            sessions=Sessions(backends),
            health=AccountHealth(backends, database, clock),
        ),
        admin_token=admin_token,
        secret_box=SecretBox.from_secret_key(webhook_key),
        media_links=MediaLinks(webhook_key, settings.public_url, clock),
        run_workers=run_workers,
        metrics=metrics,
        wakeup_relay=WakeupRelay(
            settings.database.url,
            wakeup,
            fallback_s=settings.database.wakeup_fallback_s,
            metrics=metrics,
        ),
    )
