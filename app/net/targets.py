"""Where an outgoing request may go: the guard against the gateway as a way into private networks.

Webhook deliveries and media fetched by URL go to addresses a client chose. Only http and
https. Unless `allow_private_targets` (each user has its own setting), a host that is or
resolves to a private, loopback, link-local, multicast, reserved or unspecified address is
refused: neither may become a way to reach the gateway's own network. That covers every
spelling of such an address: the IPv6 forms that carry an IPv4 address (`embedded_ipv4`), and
the numeric host names the C resolver reads as IPv4 (`numeric_ipv4`: `http://2130706433/` is
127.0.0.1). Every address the name resolves to is checked (one bad one is enough to refuse).

`checked_addresses` is the one place a host becomes addresses; `pinned.py` connects to what it
returned, so a DNS answer that changes between the check and the connection (DNS rebinding)
cannot lead anywhere else. `check_target` checks a URL as a whole (a webhook's, when it is
created), with an answer that may be stale by the time anything connects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048

# host -> its addresses (IPv4 and IPv6, as strings)
Resolver = Callable[[str], Awaitable[list[str]]]


# The setting named when a private target is refused, unless the caller names its own.
WEBHOOK_SETTING = "[webhook_delivery] allow_private_targets"


class TargetError(ValueError):
    """The URL may not be used; the message says why."""


class UnresolvableHost(TargetError):
    """The host has no address (a DNS failure): not forbidden, just nowhere to go."""


class ForbiddenTarget(TargetError):
    """The host is, or resolves to, an address that is not public."""


async def system_resolver(host: str) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"the host {host!r} does not resolve: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def check_url_shape(url: object, field: str = "url") -> tuple[str, str]:
    """(scheme, host) of a well-formed http(s) URL; TargetError, naming `field`, otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise TargetError(f"'{field}' must be a non-empty string")
    if len(url) > MAX_URL_CHARS:
        raise TargetError(f"'{field}' is longer than {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise TargetError(f"'{field}' contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise TargetError(f"'{field}' is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetError(f"'{field}' must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise TargetError(f"'{field}' has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetError(f"'{field}' must not carry credentials (user:password@)")
    if port == 0:
        raise TargetError(f"'{field}' has port 0")
    return parts.scheme, host


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Embedded:
    """An IPv4 address inside an IPv6 one, and how it got there."""

    form: str
    ipv4: ipaddress.IPv4Address
    # True: the connection ends at that IPv4 host, so it alone decides (it is public, or the
    # address is refused). False: the form is refused even around a public IPv4 address.
    stands_for_ipv4: bool


def _net(text: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(text)


_MAPPED = _net("::ffff:0:0/96")
_COMPATIBLE = _net("::/96")
_TRANSLATED = _net("::ffff:0:0:0/96")
_NAT64 = _net("64:ff9b::/96")
_NAT64_LOCAL = _net("64:ff9b:1::/48")
_SIXTOFOUR = _net("2002::/16")
_TEREDO = _net("2001::/32")
_ISATAP_ID = 0x5EFE  # interface id 0000:5efe:a.b.c.d (or 0200:5efe with the u/l bit set)


def _v4(bits: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(bits & 0xFFFFFFFF)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[Embedded]:
    """Every IPv4 address this IPv6 address carries, by every form that can carry one.

    - IPv4-mapped ::ffff:a.b.c.d: a socket connects to a.b.c.d itself.
    - NAT64 64:ff9b::a.b.c.d (RFC 6052 well-known prefix): a NAT64 gateway connects to a.b.c.d.
    - 6to4 2002:AABB:CCDD::/48: relayed to the 6to4 router at a.b.c.d.
    - IPv4-compatible ::a.b.c.d (deprecated since RFC 4291), IPv4-translated ::ffff:0:a.b.c.d
      (SIIT, meaningful only inside a translator's network), NAT64 local-use 64:ff9b:1::/48
      (RFC 8215: a translator of the local network; where the IPv4 address sits depends on a
      prefix length we cannot know, so the last 32 bits are checked and the form is refused),
      Teredo 2001::/32 (a tunnel through NATs; its server and its obfuscated client address):
      nothing a webhook needs, and each can lead into a private network. Refused whatever
      they carry.
    - ISATAP interface ids (…:0:5efe:a.b.c.d, …:200:5efe:a.b.c.d) under any prefix: the last
      hop tunnels to a.b.c.d; the prefix is judged as usual as well.
    """
    bits = int(ip)
    found: list[Embedded] = []
    if ip in _MAPPED:
        found.append(Embedded("IPv4-mapped", _v4(bits), True))
    elif ip in _COMPATIBLE and bits > 1:  # :: and ::1 are unspecified and loopback, not IPv4
        found.append(Embedded("IPv4-compatible", _v4(bits), False))
    elif ip in _TRANSLATED:
        found.append(Embedded("IPv4-translated", _v4(bits), False))
    elif ip in _NAT64:
        found.append(Embedded("NAT64", _v4(bits), True))
    elif ip in _NAT64_LOCAL:
        found.append(Embedded("NAT64 local-use", _v4(bits), False))
    elif ip in _SIXTOFOUR:
        found.append(Embedded("6to4", _v4(bits >> 80), True))
    elif ip in _TEREDO:
        assert ip.teredo is not None
        server, client = ip.teredo
        found.append(Embedded("Teredo (server)", server, False))
        found.append(Embedded("Teredo (client)", client, False))
    # Interface id x?00:5efe:a.b.c.d; the mask drops the prefix and the u/l and group bits.
    if ((bits >> 32) & 0xFCFF_FFFF) == _ISATAP_ID:
        found.append(Embedded("ISATAP", _v4(bits), False))
    return found


def _plain_reason(ip: IPAddress) -> str | None:
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


def forbidden_reason(address: str) -> str | None:
    """Why this address is not a public one, or None.

    An IPv6 address that carries an IPv4 one (`embedded_ipv4`) is refused when that IPv4
    address would be, by the same rules as a plain one. A public IPv4 address is allowed inside
    the forms that only say "connect to it" (IPv4-mapped, NAT64 well-known prefix, 6to4); the
    other forms are refused whatever they carry.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv4Address):
        return _plain_reason(ip)
    embedded = embedded_ipv4(ip)
    for item in embedded:
        reason = _plain_reason(item.ipv4)
        if reason is not None:
            return f"{item.form} form of {item.ipv4}, {reason}"
    for item in embedded:
        if not item.stands_for_ipv4 and item.form != "ISATAP":
            family = item.form.partition(" (")[0]  # Teredo (server) -> Teredo
            return f"{family} address, refused whatever it carries"
    if any(item.stands_for_ipv4 for item in embedded):
        # The IPv4 host is public; the prefix itself is only the way there (Python's tables
        # call 64:ff9b::/96 reserved, and newer ones 2002::/16 private).
        return None
    return _plain_reason(ip)


_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host name stands for, as the C resolver reads it
    (inet_aton: `2130706433`, `0x7f.1`, `127.1`, `0177.0.0.1` are all 127.0.0.1), or None for
    a host that does not end in a number (a DNS name). A host that ends in a number but is no
    address (`1.2.3.4.5`, `999.1.1.1`, `08.1.1.1`) raises TargetError: no DNS name can end in
    a number, and resolvers differ on what such a host is.
    """
    labels = host.removesuffix(".").split(".")
    if not _NUMBER.match(labels[-1]):
        return None
    values: list[int] = []
    for label in labels:
        if not _NUMBER.match(label) or len(labels) > 4:
            raise TargetError(f"the host {host!r} looks like an IPv4 address but is not one")
        if label[:2].lower() == "0x":
            values.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                raise TargetError(f"the host {host!r} has a bad octal part {label!r}")
            values.append(int(label, 8))
        else:
            values.append(int(label))
    *parts, last = values
    if any(v > 255 for v in parts) or last >= 1 << (8 * (4 - len(parts))):
        raise TargetError(f"the host {host!r} looks like an IPv4 address but is out of range")
    number = last
    for index, value in enumerate(parts):
        number |= value << (24 - 8 * index)
    return ipaddress.IPv4Address(number)


def _literal(host: str) -> IPAddress | None:
    """The address an IP-literal host connects to (every spelling of one), or None."""
    ascii_host = host
    if not host.isascii():
        # What the socket layer looks up: Python's IDNA codec (NFKC: fullwidth digits and
        # dots become ASCII ones, so "１２７．０．０．１" is 127.0.0.1).
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise TargetError(f"the host {host!r} is not a valid host name: {exc}") from exc
    try:
        return ipaddress.ip_address(ascii_host)
    except ValueError:
        return numeric_ipv4(ascii_host)


async def checked_addresses(
    host: str, *, allow_private: bool, resolve: Resolver, setting: str = WEBHOOK_SETTING
) -> list[str]:
    """The addresses `host` stands for, resolved once, each of them checked: what to connect to.

    An IP literal (every spelling of one) is its own address and is not looked up. Unless
    `allow_private`, ForbiddenTarget names the first address that is not public (and `setting`,
    which would allow it); UnresolvableHost when there is none.
    """
    literal = _literal(host)
    addresses = [str(literal)] if literal is not None else await resolve(host)
    if not addresses:
        raise UnresolvableHost(f"the host {host!r} does not resolve")
    if allow_private:
        return addresses
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None:
            where = address if literal is not None else f"{host!r} (it resolves to {address})"
            raise ForbiddenTarget(
                f"{where} is not a public address ({reason}); private and loopback targets "
                f"are refused unless {setting} = true"
            )
    return addresses


async def check_target(
    url: object, *, allow_private: bool, resolve: Resolver, setting: str = WEBHOOK_SETTING
) -> str:
    """The URL if it may be used now; TargetError with the reason otherwise."""
    _, host = check_url_shape(url)
    assert isinstance(url, str)
    if allow_private:
        return url
    try:
        await checked_addresses(host, allow_private=False, resolve=resolve, setting=setting)
    except ForbiddenTarget as exc:
        raise ForbiddenTarget(f"'url' is refused: {exc}") from None
    return url


def check_literal_target(
    url: object, *, allow_private: bool, field: str = "url", setting: str = WEBHOOK_SETTING
) -> str:
    """`url`'s shape and, unless `allow_private`, its host when the host says by itself that it
    is not public: an IP address in any spelling, or `localhost` (RFC 6761). Nothing is looked
    up: for a check on a hot path (a send's callback_url); a name is checked again, resolved,
    where it is connected to (`check_target`, pinned.py)."""
    _, host = check_url_shape(url, field)
    assert isinstance(url, str)
    if allow_private:
        return url
    name = host.lower().removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise ForbiddenTarget(
            f"'{field}' is refused: {host!r} is a loopback name; private and loopback targets "
            f"are refused unless {setting} = true"
        )
    literal = _literal(host)
    reason = forbidden_reason(str(literal)) if literal is not None else None
    if reason is not None:
        raise ForbiddenTarget(
            f"'{field}' is refused: {literal} is not a public address ({reason}); private and "
            f"loopback targets are refused unless {setting} = true"
        )
    return url
