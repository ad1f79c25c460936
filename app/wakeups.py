"""Wake-ups across the processes of one PostgreSQL database (LISTEN/NOTIFY).

`Wakeup` (app/queueing.py) wakes a worker of this process. With several processes on one
database, a message accepted by one must wake the send worker of the process that owns the
instance, and events committed by any must wake every delivery worker and event-stream tail.

`WakeupRelay` keeps one asyncpg connection of its own (not from the pool) that LISTENs on the
deployment's channel:
- `Wakeup.notify(topic)` hands the topic to `publish`, which never blocks nor raises: topics
  wait in a set, so a burst of notifies of one topic in a loop turn goes out as one, and the
  relay's task sends them with `pg_notify` from its connection;
- a notification from another process wakes the topic here (`Wakeup.wake`); our own come back
  too and are skipped (asyncpg gives the sender's backend pid);
- events committed anywhere go out as `EVENTS_TOPIC`, which wakes the delivery worker and the
  readers of the event log (`relay_events`);
- while connected, workers poll only every `[database] wakeup_fallback_s` (`Wakeup.poll_cap`);
  when the connection drops (a database restart), every local topic wakes, workers go back to
  their short polls, and the relay reconnects with backoff (one warning, not one per try).
  Once back, every local topic wakes again (notifications sent meanwhile were lost) and the
  topics published meanwhile go out.

On SQLite the relay does nothing: one process writes the file, and its wake-ups stay in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sqlalchemy.engine import make_url

from app.db import PG_CONNECT_TIMEOUT_S, OnEvents, async_url, is_sqlite
from app.event_feed import EventFeed
from app.metrics import Metrics
from app.queueing import Wakeup

log = logging.getLogger(__name__)

CHANNEL = "tgw_wakeup"
# Topic of "events were committed": wakes the delivery worker and every event-log reader.
EVENTS_TOPIC = "events"
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 10.0
# How often an idle listen connection is checked (a dead network sends no close).
KEEPALIVE_S = 15.0

# Options of a URL that SQLAlchemy's asyncpg dialect keeps for itself.
_SQLALCHEMY_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")

Connect = Callable[[], Awaitable[Any]]


def relay_events(wakeup: Wakeup, feed: EventFeed, webhook_topic: str) -> OnEvents:
    """The Database's `on_events` hook: events were committed here, so the delivery worker and
    the readers of the event log look now -- here and, through the relay, everywhere."""

    def wake_readers() -> None:
        wakeup.wake(webhook_topic)
        feed.notify()

    wakeup.on(EVENTS_TOPIC, wake_readers)
    return partial(wakeup.notify, EVENTS_TOPIC)


def channel_and_connect_args(url: str) -> tuple[str, dict[str, Any]]:
    """The LISTEN channel of a database URL, and the arguments of `asyncpg.connect` for it (as
    SQLAlchemy reads the URL for the engine: host, port, `ssl`, ...).

    Deployments (or tests) that share a database in schemas of their own (`?search_path=`)
    get a channel each: notifications are per database, not per schema.
    """
    parsed = make_url(async_url(url))
    search_path = parsed.query.get("search_path")
    parsed = parsed.difference_update_query(["search_path"])
    channel = CHANNEL
    if search_path:
        digest = hashlib.sha256(str(search_path).encode()).hexdigest()[:16]
        channel = f"{CHANNEL}_{digest}"
    _, found = parsed.get_dialect()().create_connect_args(parsed)
    kwargs = dict(found)
    for sqlalchemy_only in _SQLALCHEMY_ONLY:
        kwargs.pop(sqlalchemy_only, None)
    kwargs["timeout"] = PG_CONNECT_TIMEOUT_S
    return channel, kwargs


class WakeupRelay:
    def __init__(
        self,
        url: str,
        wakeup: Wakeup,
        *,
        fallback_s: float,
        metrics: Metrics | None = None,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.enabled = not is_sqlite(url)
        self._wakeup = wakeup
        self._fallback_s = fallback_s
        self._metrics = metrics
        self._keepalive_s = keepalive_s
        self.channel, self._connect_args = (
            channel_and_connect_args(url) if self.enabled else (CHANNEL, {})
        )
        self._pending: set[str] = set()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        # The backend pid of our connection: its notifications are our own.
        self.pid: int | None = None
        self._down_since: float | None = None
        self._delay = RECONNECT_MIN_S
        # Set each time the connection is (re)established (tests wait on it).
        self.connected = asyncio.Event()
        self.connections = 0
        # Opens the listen connection (tests hold it back to force an outage's order).
        self.connect: Connect = self._connect_asyncpg

    def start(self) -> None:
        """Start listening (in the background: a database that is down is waited for)."""
        if not self.enabled or self._task is not None:
            return
        self._wakeup.relay = self.publish
        self._task = asyncio.create_task(self._run(), name="wakeup-relay")

    async def close(self) -> None:
        self._wakeup.relay = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def publish(self, topic: str) -> None:
        """Send `topic` to the other processes soon (never blocks, never raises)."""
        self._pending.add(topic)
        self._kick.set()

    def _received(self, _conn: Any, pid: int, _channel: str, payload: str) -> None:
        if pid == self.pid:
            return  # our own: its local waiters were woken when it was published
        if self._metrics is not None:
            self._metrics.wakeups_received.inc()
        self._wakeup.wake(payload)

    async def _connect_asyncpg(self) -> Any:
        import asyncpg  # the `postgres` extra; only needed on PostgreSQL

        return await asyncpg.connect(**self._connect_args)

    async def _run(self) -> None:
        while True:
            conn: Any = None
            try:
                conn = await self.connect()
                await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc)
            finally:
                self._disconnected()
                if conn is not None:
                    conn.terminate()
            # Backoff: each failure in a row waits longer (a LISTEN that works resets it).
            await asyncio.sleep(self._delay)
            self._delay = min(2 * self._delay, RECONNECT_MAX_S)

    async def _serve(self, conn: Any) -> None:
        """Listen and send on `conn` until it is lost (raises then)."""
        conn.add_termination_listener(lambda _conn: self._kick.set())
        self._conn, self.pid = conn, conn.get_server_pid()
        await conn.add_listener(self.channel, self._received)
        self._wakeup.fallback_s = self._fallback_s
        self._delay = RECONNECT_MIN_S
        if self._metrics is not None:
            self._metrics.wakeup_listener_connected.set(1)
        if self._down_since is not None:
            log.warning(
                "wake-ups across processes work again after %.1f s",
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        self.connections += 1
        if self.connections == 1:
            log.info("wake-ups across processes: listening on %s", self.channel)
        else:
            # Whatever was notified while we were away is lost: every worker looks once.
            self._wakeup.wake_all()
        self.connected.set()
        self._kick.set()  # topics published while we were away go out now
        while True:
            try:
                async with asyncio.timeout(self._keepalive_s):
                    await self._kick.wait()
            except TimeoutError:
                await conn.execute("SELECT 1", timeout=PG_CONNECT_TIMEOUT_S)
                continue
            self._kick.clear()
            if conn.is_closed():
                raise ConnectionError("the listen connection was closed")
            await asyncio.sleep(0)  # the rest of this loop turn's notifies go in one batch
            await self._flush(conn)

    async def _flush(self, conn: Any) -> None:
        topics, self._pending = sorted(self._pending), set()
        if not topics:
            return
        try:
            await conn.execute(
                "SELECT pg_notify($1, t) FROM unnest($2::text[]) AS t",
                self.channel,
                topics,
                timeout=PG_CONNECT_TIMEOUT_S,
            )
        except BaseException:
            self._pending.update(topics)  # they go after the reconnection
            raise
        if self._metrics is not None:
            self._metrics.wakeups_sent.inc(len(topics))

    def _disconnected(self) -> None:
        was_connected = self._conn is not None
        self._conn, self.pid = None, None
        self.connected.clear()
        self._wakeup.fallback_s = None
        if self._metrics is not None:
            self._metrics.wakeup_listener_connected.set(0)
        if was_connected:
            # Workers waiting out the slow fallback look now, and poll fast from here on.
            self._wakeup.wake_all()

    def _failed(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "wake-ups across processes are down (%s: %s); workers poll until they are back",
                type(exc).__name__,
                exc,
            )
