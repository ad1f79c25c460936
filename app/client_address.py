"""Who a request comes from: the one place that reads the client's address and scheme.

The direct peer (the TCP connection's other end) is the client, unless the peer is one of
`[server] trusted_proxies`. Only then is `[server] client_address_header` read (X-Forwarded-For,
Forwarded or X-Real-IP, whichever the proxy writes), and the client is the right-most address
of that chain that is not itself a trusted proxy: everything to its left was written by the
client, who may have put anything there. A header from any other peer is ignored, so a client
cannot choose the address its failed sign-ins are counted on.

Exactly one header is believed, the one the operator names: proxies pass the headers they do
not set through unchanged, so believing another one would let the client write it.

The scheme (for the Secure cookie flag) follows the same rule: X-Forwarded-Proto (or the
Forwarded element's proto=) from a trusted proxy, else the connection's own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from starlette.requests import Request

from app.settings import ServerSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"  # no peer address at all (not over TCP): every such request counts as one
MAX_HOPS = 32  # a longer chain is cut: the hops beyond are the client's writing anyway


@dataclass(frozen=True)
class Origin:
    address: str
    scheme: str


@lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    # The settings validated and normalised the entries: this cannot raise.
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it (`1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`,
    `"[2001:db8::1]"`), or None for anything else (`unknown`, `_hidden`, garbage)."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        value = value.partition(":")[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # the same client as its plain IPv4 form
    return ip


def _trusted(ip: IPAddress, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _joined(request: Request, name: str) -> list[str]:
    """Every value of a list header, in order, however many header lines carry it."""
    return [item for line in request.headers.getlist(name) for item in line.split(",")]


def _forwarded_elements(request: Request) -> list[dict[str, str]]:
    """The `Forwarded` header (RFC 7239) as one dict of parameters per hop, left to right."""
    elements = []
    for item in _joined(request, "forwarded"):
        params: dict[str, str] = {}
        for pair in item.split(";"):
            key, sep, value = pair.partition("=")
            if sep:
                params[key.strip().lower()] = value.strip().strip('"')
        elements.append(params)
    return elements


def _chain(request: Request, header: str) -> tuple[list[str], list[str]]:
    """(the addresses the proxies wrote, left to right; the schemes they wrote)."""
    if header == "forwarded":
        elements = _forwarded_elements(request)
        return [e.get("for", "") for e in elements], [e["proto"] for e in elements if "proto" in e]
    protos = _joined(request, "x-forwarded-proto")
    if header == "x-real-ip":
        values = request.headers.getlist("x-real-ip")
        return values[-1:], protos  # one address, set (not appended) by the proxy
    return _joined(request, "x-forwarded-for"), protos


def request_origin(request: Request, server: ServerSettings) -> Origin:
    """The client's address and the scheme it used, as far as they can be trusted."""
    scheme = request.url.scheme
    peer_host = request.client.host if request.client else None
    peer = parse_address(peer_host) if peer_host else None
    if peer is None:
        return Origin(peer_host or UNKNOWN, scheme)
    networks = _networks(tuple(server.trusted_proxies))
    if not networks or not _trusted(peer, networks):
        return Origin(str(peer), scheme)
    hops, protos = _chain(request, server.client_address_header)
    client = peer
    for hop in reversed(hops[-MAX_HOPS:]):
        if not _trusted(client, networks):
            break  # `client` is the first address no trusted proxy vouches for
        ip = parse_address(hop)
        if ip is None:
            break  # a garbled hop: keep the last address a trusted proxy vouched for
        client = ip
    proto = protos[-1].strip().lower() if protos else ""
    if proto in ("http", "https"):
        scheme = proto
    return Origin(str(client), scheme)


def client_address(request: Request, server: ServerSettings) -> str:
    return request_origin(request, server).address
