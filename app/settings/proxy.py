"""`[[instances]] proxy`: how an instance reaches Telegram, written as a URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

ProxyScheme = Literal["socks5", "socks4", "http", "mtproxy"]
_PROXY_SCHEMES: tuple[ProxyScheme, ...] = ("socks5", "socks4", "http", "mtproxy")
PROXY_FORMS = (
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
        raise ValueError(f"must be a URL: {PROXY_FORMS}")
    if scheme in ("tg", "https") and "proxy?" in text:
        raise ValueError(
            "a tg://proxy or t.me/proxy link: write it as mtproxy://<secret>@<server>:<port>"
        )
    if scheme == "https":
        raise ValueError("TLS to the proxy (https://) is not supported; use http:// or socks5://")
    if scheme not in _PROXY_SCHEMES:
        raise ValueError(f"unknown proxy type {scheme!r}: use {PROXY_FORMS}")
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
