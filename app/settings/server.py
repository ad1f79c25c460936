"""[database], [server], [security] and [telegram]: where the gateway runs and what it reaches."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from app.settings.base import _Section

# The header a trusted reverse proxy writes the client's address into (app/client_address.py).
ClientAddressHeader = Literal["x-forwarded-for", "forwarded", "x-real-ip"]


class DatabaseSettings(_Section):
    url: str = "sqlite:///./tgw.db"
    # PostgreSQL: while wake-ups from the other processes arrive (LISTEN/NOTIFY), workers look
    # at the database without one only this often (app/wakeups.py). Not used on SQLite.
    wakeup_fallback_s: float = Field(default=10, ge=1, le=300)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    # Reverse proxies (IPs or CIDRs) whose `client_address_header` is believed. Empty: nobody's,
    # so a client cannot choose the address its wrong tokens count on (app/client_address.py).
    trusted_proxies: list[str] = Field(default_factory=list)
    client_address_header: ClientAddressHeader = "x-forwarded-for"

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):  # TGW_SERVER__TRUSTED_PROXIES=10.0.0.1,10.1.0.0/16
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if not isinstance(value, list):
            return value  # pydantic says what is wrong
        networks = []
        for entry in value:
            if not isinstance(entry, str):
                raise ValueError(f"must be IP addresses or CIDRs (strings), not {entry!r}")
            try:
                networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or CIDR") from exc
        return networks

    @field_validator("client_address_header", mode="before")
    @classmethod
    def _header_name(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    # Slow or stalled clients (app/http_limits.py). A request's headers must be complete this
    # long after the connection opened (or after the first byte of a later request on it).
    header_timeout_s: float = Field(default=10, gt=0)
    # The whole body must arrive within this, counted from when the gateway starts reading it.
    body_timeout_s: float = Field(default=30, gt=0)
    # After `min_body_rate_after_s`, a body must have come at this many bytes a second on
    # average since its start, or it is cut (mod_reqtimeout's MinRate, in other words).
    min_body_rate_bytes_s: float = Field(default=1024, gt=0)
    min_body_rate_after_s: float = Field(default=5, gt=0)
    # Open connections served at once; a request on one more is answered 503 and closed.
    max_connections: int = Field(default=1000, ge=1)
    # An idle kept-alive connection is closed after this long without a new request.
    keep_alive_timeout_s: int = Field(default=5, ge=1)


class SecuritySettings(_Section):
    admin_token: str | None = None
    secret_key: str | None = None


class TelegramSettings(_Section):
    api_id: int | None = None
    api_hash: str | None = None
    # A non-production MTProto server (Telegram's test DCs, a self-hosted one): "host:port".
    server: str | None = None
    dc_id: int = Field(default=2, ge=1)
    public_key_file: str | None = None
    # How long an instance's lease lives without renewal (app/lease.py): a standby process takes
    # a dead or stopped owner's sessions over after about this long.
    lease_ttl_s: float = Field(default=30, ge=3, le=600)

    @field_validator("server")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"must be host:port, not {value!r}")
        return value

    @field_validator("public_key_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            text = Path(value).expanduser().read_text()
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror}") from exc
        if "PUBLIC KEY-----" not in text:
            raise ValueError(f"{value} is not a PEM public key (BEGIN RSA PUBLIC KEY)")
        return value
