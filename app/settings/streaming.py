"""[event_stream]: the live event stream (GET /api/v1/events/stream, SSE and WebSocket)."""

from __future__ import annotations

from pydantic import Field

from app.settings.base import _Section


class EventStreamSettings(_Section):
    # A comment line (SSE) or a heartbeat frame (WebSocket) when nothing else was sent for
    # this long: proxies keep the connection, and the reader knows the gateway is there.
    heartbeat_s: float = Field(default=15, gt=0, le=3600)
    # A reader that falls this many events behind is dropped (it resumes with its last seq):
    # no reader makes the gateway hold an unbounded backlog in memory.
    max_buffered_events: int = Field(default=1000, ge=1, le=1_000_000)
    # How often the shared tail looks at the event log without being woken (commits of other
    # processes wake it too on PostgreSQL: app/wakeups.py; this covers a lost wake-up).
    poll_s: float = Field(default=1, gt=0, le=60)
    # Open streams at once in this process; more are refused with 503.
    max_readers: int = Field(default=500, ge=1, le=100_000)
    # A stream ends after this long (the reader reconnects with its last seq): no connection
    # is held forever, and a forgotten reader goes away.
    max_connection_s: float = Field(default=3600, gt=0, le=7 * 86400)
