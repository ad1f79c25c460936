"""[cluster]: what this process does in a deployment of several (app/cluster/)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from app.settings.base import _Section

# api: the HTTP surfaces only, no Telegram session; worker: sessions, send and delivery workers
# (and the HTTP surfaces, for probes and metrics); all: both, the one-process default.
Role = Literal["api", "worker", "all"]
ROLES: tuple[Role, ...] = ("api", "worker", "all")


class ClusterSettings(_Section):
    role: Role = "all"
    # At most this many instances' sessions in this process, even when its fair share
    # (the instances over the live worker processes, rounded up) is larger. None: no cap.
    max_sessions: int | None = Field(default=None, ge=1)
    # How the other processes reach this one's HTTP API (session operations are passed to the
    # holder; GET /admin/cluster shows it); by default http://<[server] host>:<port>, or,
    # listening on every address, the address this process reaches the database from.
    advertise_url: str | None = None

    @field_validator("advertise_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
        return value
