"""The one way a moment leaves the gateway: ISO 8601 in UTC with a `Z`, in the API, webhooks,
events and CLI `--json` alike (e.g. `2026-12-03T15:20:07.123456Z`; no fraction when it is 0).

A naive datetime is taken as UTC: the database columns are UTC (SQLite keeps no zone).
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime) -> str:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso(value)
