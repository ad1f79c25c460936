"""Typed settings: `tgw.toml` plus `TGW_<SECTION>__<KEY>` environment overrides.

Settings are read once by the CLI and passed down; nothing reads them at import time.
Unknown or malformed keys raise `SettingsError`, which names the key; the CLI exits with 2.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_GREETINGS = [
    "Hi",
    "嗨",
    "你好",
    "安安",
    "こんにちは",
    "ハイ",
    "Ching",
    "Ciao",
    "Hai",
    "Hallo",
    "Hola",
    "Hoi",
    "Oi",
    "Salut",
    "Здравствуй",
    "Привіт",
    "नमस्ते",
    "היי",
    "مرحبا",
]

MIB = 1024 * 1024

# The header a trusted reverse proxy writes the client's address into (app/client_address.py).
ClientAddressHeader = Literal["x-forwarded-for", "forwarded", "x-real-ip"]


class SettingsError(Exception):
    """A configuration problem; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///./tgw.db"


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


class ProfileSettings(_Section):
    first_name: str | None = None
    last_name: str | None = None
    about: str | None = None
    photo: str | None = None


ProxyScheme = Literal["socks5", "socks4", "http", "mtproxy"]
_PROXY_SCHEMES: tuple[ProxyScheme, ...] = ("socks5", "socks4", "http", "mtproxy")
_PROXY_FORMS = (
    "socks5://[user:password@]host:port, socks4://[user@]host:port, "
    "http://[user:password@]host:port or mtproxy://<hex secret>@host:port"
)


@dataclass(frozen=True)
class Proxy:
    """How an instance reaches Telegram: a SOCKS5, SOCKS4 or HTTP CONNECT proxy, or an MTProxy.

    Parsed from `[[instances]] proxy` by `parse_proxy`; the Telethon adapter turns it into
    TelegramClient arguments. Passwords and MTProxy secrets never show in its repr or str.
    """

    scheme: ProxyScheme
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # MTProxy: the 16-byte key of the secret; `padded` for a "dd" secret (random padding).
    secret: bytes | None = field(default=None, repr=False)
    padded: bool = False

    @property
    def is_mtproxy(self) -> bool:
        return self.scheme == "mtproxy"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.is_mtproxy:
            return f"mtproxy://{'dd' if self.padded else ''}<secret>@{host}:{self.port}"
        user = f"{self.username}{':***' if self.password else ''}@" if self.username else ""
        return f"{self.scheme}://{user}{host}:{self.port}"


def parse_proxy(text: str) -> Proxy:
    """A proxy URL as written in the config; ValueError says what is wrong (never the secret)."""
    scheme, sep, _ = text.strip().partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(f"must be a URL: {_PROXY_FORMS}")
    if scheme in ("tg", "https") and "proxy?" in text:
        raise ValueError(
            "a tg://proxy or t.me/proxy link: write it as mtproxy://<secret>@<server>:<port>"
        )
    if scheme == "https":
        raise ValueError("TLS to the proxy (https://) is not supported; use http:// or socks5://")
    if scheme not in _PROXY_SCHEMES:
        raise ValueError(f"unknown proxy type {scheme!r}: use {_PROXY_FORMS}")
    parts = urlsplit(text.strip())
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"must be {scheme}://...host:port with nothing after the port")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:  # a port that is not a number, or over 65535
        port = 0
    if not host:
        raise ValueError(f"the host is missing ({scheme}://...host:port)")
    if port is None:
        raise ValueError(f"the port is missing ({scheme}://...{host}:port)")
    if not 0 < port < 65536:
        raise ValueError("the port must be a number from 1 to 65535")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if scheme == "mtproxy":
        if password is not None:
            raise ValueError(
                "an MTProxy takes a secret, not user:password (mtproxy://<secret>@...)"
            )
        key, padded = _mtproxy_secret(username or "")
        return Proxy("mtproxy", host, port, secret=key, padded=padded)
    if scheme == "socks4":
        if password is not None:
            raise ValueError("SOCKS4 has no passwords (a user id at most); use socks5://")
        return Proxy("socks4", host, port, username=username or None)
    if bool(username) != bool(password):
        raise ValueError("give both the user name and the password (user:password@), or neither")
    return Proxy(scheme, host, port, username=username or None, password=password or None)


def _mtproxy_secret(text: str) -> tuple[bytes, bool]:
    """An MTProxy secret in hex: 16 bytes, or "dd" + 16 bytes (random padding)."""
    if not text:
        raise ValueError("the MTProxy secret is missing (mtproxy://<secret>@host:port)")
    hex_text = text.lower()
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        raw = None
    if raw is None or (len(raw) >= 17 and raw[0] == 0xEE):
        if raw is not None or _base64_starts_with_ee(text):
            raise ValueError(
                "fake-TLS MTProxy secrets (ee...) are not supported by Telethon 1.x; "
                "ask the proxy's operator for a dd... or plain secret"
            )
        raise ValueError("the MTProxy secret must be hexadecimal")
    if len(raw) == 16:
        return raw, False
    if len(raw) == 17 and raw[0] == 0xDD:
        return raw[1:], True
    raise ValueError(
        "the MTProxy secret must be 32 hex digits, or dd followed by 32 hex digits"
        f" (it has {len(hex_text)})"
    )


def _base64_starts_with_ee(text: str) -> bool:
    """Fake-TLS secrets are often shared in base64 ("7..."): 0xee, 16 bytes, a domain name."""
    import base64
    import binascii

    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "==")
    except (binascii.Error, ValueError):
        return False
    return len(raw) > 17 and raw[0] == 0xEE


class InstanceSettings(_Section):
    number: int = Field(ge=1, le=2**31 - 1)  # an INTEGER column (32 bits on PostgreSQL)
    backend: Literal["telethon", "sandbox"] = "telethon"
    profile: ProfileSettings = ProfileSettings()
    # Sandbox only: a 2FA password that the simulated login asks for (see the sandbox backend).
    sandbox_password: str | None = None
    # Telethon only: reach Telegram through this proxy (written as a URL, see parse_proxy).
    proxy: Proxy | None = None

    @field_validator("proxy", mode="before")
    @classmethod
    def _proxy_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_proxy(value)
        if value is None or isinstance(value, Proxy):
            return value
        raise ValueError(f"must be a string: {_PROXY_FORMS}")


# Telegram's own limits, in UTF-16 code units (what its servers count).
TELEGRAM_TEXT_UNITS = 4096
TELEGRAM_CAPTION_UNITS = 1024


class LimitsSettings(_Section):
    messages_per_day: int = Field(default=2000, ge=0)
    max_recipients: int = Field(default=1000, ge=0)
    # Characters as people count them (code points after NFC). Telegram's own limits are
    # 4,096 and 1,024 UTF-16 code units, so larger settings could never be honoured.
    text_chars: int = Field(default=800, ge=1)
    caption_chars: int = Field(default=1024, ge=0)
    image_bytes: int = Field(default=2 * MIB, ge=1)
    document_bytes: int = Field(default=3 * MIB, ge=1)
    audio_bytes: int = Field(default=3 * MIB, ge=1)
    day_timezone: str = "UTC"

    @field_validator("text_chars")
    @classmethod
    def _within_telegram_text(cls, value: int) -> int:
        if value > TELEGRAM_TEXT_UNITS:
            raise ValueError(
                f"{value} is over Telegram's limit for a message text ({TELEGRAM_TEXT_UNITS} "
                "UTF-16 code units): such a text could never be sent"
            )
        return value

    @field_validator("caption_chars")
    @classmethod
    def _within_telegram_caption(cls, value: int) -> int:
        if value > TELEGRAM_CAPTION_UNITS:
            raise ValueError(
                f"{value} is over Telegram's limit for a caption ({TELEGRAM_CAPTION_UNITS} "
                "UTF-16 code units): such a caption could never be sent"
            )
        return value

    @field_validator("day_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def largest_media_bytes(self) -> int:
        return max(self.image_bytes, self.document_bytes, self.audio_bytes)


class SendingSettings(_Section):
    per_second: float = Field(default=5, ge=0)
    per_recipient_interval_s: float = Field(default=1, ge=0)
    message_ttl_s: int = Field(default=86400, ge=1)
    # Sandbox instances send unpaced unless this is true: there is no Telegram to protect.
    pace_sandbox: bool = False


class RegistrationSettings(_Section):
    greetings: list[str] = Field(default_factory=lambda: list(DEFAULT_GREETINGS))
    stop_words: list[str] | None = None  # None: the built-in list in every language
    # Per-language overrides of the built-in reply texts: {"en": {"registered": "..."}}.
    replies: dict[str, dict[str, str]] = Field(default_factory=dict)


class WebhookSettings(_Section):
    url: str
    # whsec_ + base64 of 24 to 64 bytes; generated once if absent. Kept out of reprs (logs).
    secret: str | None = Field(default=None, repr=False)
    events: list[str] | None = None  # None: every event type
    # "whatsmate": message.received only, in the hosted WhatsMate gateway's body
    # (inbound/webhooks/formats.py).
    format: Literal["standard", "whatsmate"] = "standard"
    # WhatsMate's `token`, a string the receiver compares; 256 characters at most, as the
    # admin API allows (inbound/webhooks/formats.py).
    token: str | None = Field(default=None, min_length=1, max_length=256, repr=False)

    @field_validator("token")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not hold control characters")
        return value

    @model_validator(mode="after")
    def _whatsmate_events(self) -> WebhookSettings:
        # A whatsmate endpoint gets message.received only: another filter would be a promise
        # that is not kept (the admin API refuses it the same way).
        if self.format == "whatsmate" and self.events not in (None, ["message.received"]):
            raise ValueError(
                'format = "whatsmate" receives message.received only: leave `events` out or '
                'set it to ["message.received"]'
            )
        return self

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import base64
        import binascii

        if not value.startswith("whsec_"):
            raise ValueError("must start with 'whsec_'")
        try:
            size = len(base64.b64decode(value[6:], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be 'whsec_' followed by standard base64") from exc
        if not 24 <= size <= 64:
            raise ValueError(f"must hold 24 to 64 bytes once decoded (holds {size})")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str] | None) -> list[str] | None:
        from app.events import EVENT_TYPES

        if value is None:
            return None
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {list(EVENT_TYPES)}")
        if not value:
            raise ValueError("is empty; leave it out for every event type")
        return value


class WebhookDeliverySettings(_Section):
    allow_private_targets: bool = False
    timeout_s: float = Field(default=15, gt=0)
    retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )

    @field_validator("retry_schedule_s")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(step < 0 for step in value):
            raise ValueError("delays must be 0 or more seconds")
        return value


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    security: SecuritySettings = SecuritySettings()
    telegram: TelegramSettings = TelegramSettings()
    instances: list[InstanceSettings] = Field(default_factory=lambda: [InstanceSettings(number=1)])
    limits: LimitsSettings = LimitsSettings()
    sending: SendingSettings = SendingSettings()
    registration: RegistrationSettings = RegistrationSettings()
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    webhook_delivery: WebhookDeliverySettings = WebhookDeliverySettings()
    # Where the config file was read from (None: defaults only). Not a config key.
    source: str | None = Field(default=None, exclude=True)

    @field_validator("instances")
    @classmethod
    def _unique_numbers(cls, value: list[InstanceSettings]) -> list[InstanceSettings]:
        numbers = [i.number for i in value]
        if len(set(numbers)) != len(numbers):
            raise ValueError("instance numbers must be unique")
        return value

    @field_validator("webhooks")
    @classmethod
    def _unique_urls(cls, value: list[WebhookSettings]) -> list[WebhookSettings]:
        urls = [w.url for w in value]
        duplicates = sorted({u for u in urls if urls.count(u) > 1})
        if duplicates:
            raise ValueError(f"each URL once (endpoints are matched by URL): {duplicates}")
        return value

    @property
    def public_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"

    def instance(self, number: int) -> InstanceSettings | None:
        return next((i for i in self.instances if i.number == number), None)

    def with_sandbox(self) -> Settings:
        """`tgw serve --sandbox`: every instance becomes a sandbox instance."""
        instances = [i.model_copy(update={"backend": "sandbox"}) for i in self.instances]
        return self.model_copy(update={"instances": instances})

    def data_dir(self) -> Path:
        """Folder beside the SQLite database (or the working folder) for generated secrets."""
        url = self.database.url
        if url.startswith("sqlite") and ":///" in url:
            path = url.split(":///", 1)[1].split("?", 1)[0]
            if path and path != ":memory:":
                return Path(path).expanduser().resolve().parent
        return Path.cwd()


ENV_PREFIX = "TGW_"


def _parse_env_value(raw: str) -> Any:
    """Environment values are strings; JSON lets lists, numbers and booleans through."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "TGW_CONFIG":
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise SettingsError(
                f"environment variable {name}: expected TGW_<SECTION>__<KEY>, "
                "e.g. TGW_DATABASE__URL"
            )
        section, key = parts
        if section not in Settings.model_fields or section == "source":
            raise SettingsError(f"environment variable {name}: unknown section [{section}]")
        target = data.setdefault(section, {})
        if not isinstance(target, dict):
            raise SettingsError(
                f"environment variable {name}: [{section}] is a list; set it in the TOML file"
            )
        value: Any = raw if key in _STRING_KEYS else _parse_env_value(raw)
        target[key] = value


# Keys whose values are always strings even if they look like JSON (a token of digits).
_STRING_KEYS = {"url", "admin_token", "secret_key", "api_hash", "host", "public_url", "server"}


def _format_error(exc: ValidationError, source: str, data: Mapping[str, Any]) -> str:
    lines = []
    for err in exc.errors():
        where, loc = _instance_entry(err["loc"], data)
        key = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: {where}unknown key '{key}'")
        elif where:
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {where}{key}: {message}")
        else:
            lines.append(f"{source}: bad value for '{key}': {err['msg']}")
    return "\n".join(lines)


def _instance_entry(
    loc: tuple[int | str, ...], data: Mapping[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    """An error inside one [[instances]] table is named by its number, not its list index."""
    if len(loc) < 3 or loc[0] != "instances" or not isinstance(loc[1], int):
        return "", loc
    entries = data.get("instances")
    entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
    number = entry.get("number") if isinstance(entry, dict) else None
    if isinstance(number, int) and not isinstance(number, bool):
        return f"[[instances]] number {number}: ", loc[2:]
    return f"[[instances]] entry {loc[1] + 1}: ", loc[2:]


def find_config_path(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if environ.get("TGW_CONFIG"):
        return Path(environ["TGW_CONFIG"])
    default = Path("tgw.toml")
    return default if default.exists() else None


def load_settings(
    config_path: str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    environ = os.environ if environ is None else environ
    path = find_config_path(config_path, environ)
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SettingsError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    if "source" in data:
        raise SettingsError(f"{source}: unknown key 'source'")
    _apply_env(data, environ)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_format_error(exc, source, data)) from exc
    return settings.model_copy(update={"source": None if path is None else str(path)})
