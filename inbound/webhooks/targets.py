"""Where a webhook URL may point (SSRF guard, SPEC §7).

Only http and https. Unless `allow_private_targets`, a host that is or resolves to a private,
loopback, link-local, multicast, reserved or unspecified address is refused: a webhook must not
become a way to reach the gateway's own network. Every address the name resolves to is checked
(one bad one is enough to refuse), at creation and again before every attempt, since DNS
answers change. (A name that resolves to a public address here and to a private one for the
HTTP client a moment later is not caught; pinning the connection to the checked address would
be the next step.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048

# host -> its addresses (IPv4 and IPv6, as strings)
Resolver = Callable[[str], Awaitable[list[str]]]


class TargetError(ValueError):
    """The URL may not be used; the message says why."""


async def system_resolver(host: str) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetError(f"the host {host!r} does not resolve: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def check_url_shape(url: object) -> tuple[str, str]:
    """(scheme, host) of a well-formed http(s) URL; TargetError otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise TargetError("'url' must be a non-empty string")
    if len(url) > MAX_URL_CHARS:
        raise TargetError(f"'url' is longer than {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise TargetError("'url' contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise TargetError(f"'url' is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetError("'url' must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise TargetError("'url' has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetError("'url' must not carry credentials (user:password@)")
    if port == 0:
        raise TargetError("'url' has port 0")
    return parts.scheme, host


def forbidden_reason(address: str) -> str | None:
    """Why this address is not a public one, or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        ("loopback", ip.is_loopback),
        ("private", ip.is_private),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
        ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


async def check_target(url: object, *, allow_private: bool, resolve: Resolver) -> str:
    """The URL if it may be used now; TargetError with the reason otherwise."""
    _, host = check_url_shape(url)
    assert isinstance(url, str)
    if allow_private:
        return url
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else await resolve(host)
    if not addresses:
        raise TargetError(f"the host {host!r} does not resolve")
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None:
            raise TargetError(
                f"'url' points to {address} ({reason}); private and loopback targets are "
                "refused unless [webhook_delivery] allow_private_targets = true"
            )
    return url
