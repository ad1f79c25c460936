"""What an API client's key may do: its scopes, the instances it may use, the addresses it may
call from, and its own daily quota.

A client row keeps each limit as text (NULL: no limit: every scope, every instance, any
address, the deployment's quota alone), so a client made before keys had limits keeps full
power. `Grant` is a row's limits parsed once, when ClientCache fetches the row: checking a
request is then set membership, cheap enough for the 1,000-requests-a-second auth path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from app.errors import ApiError
from app.models import ApiClient
from app.vocabulary import Scope, values

ALL_SCOPES = values(Scope)
MAX_NETWORKS = 100
MAX_INSTANCES = 1000
# No deployment sends more in a day; the bound keeps the number an INTEGER.
MAX_DAILY_QUOTA = 1_000_000_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Limits:
    """A client's limits as the admin API and the CLI give and show them (None: no limit)."""

    scopes: tuple[str, ...] | None = None
    instances: tuple[int, ...] | None = None
    daily_quota: int | None = None
    ip_allow: tuple[str, ...] | None = None


def check_scopes(given: Iterable[str]) -> tuple[str, ...]:
    """The scopes in the vocabulary's order, each once; invalid_field for an unknown one."""
    wanted = {str(s).strip() for s in given}
    unknown = sorted(wanted - set(ALL_SCOPES))
    if unknown:
        raise ApiError(
            "invalid_field",
            f"Unknown scope {unknown[0]!r}: use {', '.join(ALL_SCOPES)}",
        )
    if not wanted:
        raise ApiError("invalid_field", "A key needs at least one scope (omit scopes for all)")
    return tuple(s for s in ALL_SCOPES if s in wanted)


def check_instances(given: Iterable[int], known: Collection[int]) -> tuple[int, ...]:
    """Sorted, each once; unknown_instance for one the deployment does not have."""
    numbers = sorted(set(given))
    if not numbers:
        raise ApiError("invalid_field", "A key needs at least one instance (omit for all)")
    if len(numbers) > MAX_INSTANCES:
        raise ApiError("invalid_field", f"At most {MAX_INSTANCES} instances")
    for number in numbers:
        if number not in known:
            listed = ", ".join(str(n) for n in sorted(known)) or "none"
            raise ApiError(
                "unknown_instance", f"Invalid gateway instance number {number} (known: {listed})"
            )
    return tuple(numbers)


def check_networks(given: Iterable[str]) -> tuple[str, ...]:
    """Each address or CIDR network in its normal form (10.1.2.3/8 -> 10.0.0.0/8)."""
    found: list[str] = []
    for entry in given:
        try:
            network = ipaddress.ip_network(str(entry).strip(), strict=False)
        except ValueError as exc:
            raise ApiError(
                "invalid_field", f"ip_allow: {entry!r} is not an IP address or CIDR network"
            ) from exc
        if str(network) not in found:
            found.append(str(network))
    if not found:
        raise ApiError("invalid_field", "ip_allow needs at least one network (omit for any)")
    if len(found) > MAX_NETWORKS:
        raise ApiError("invalid_field", f"ip_allow holds at most {MAX_NETWORKS} networks")
    return tuple(found)


def check_quota(given: int) -> int:
    if not 1 <= given <= MAX_DAILY_QUOTA:
        raise ApiError(
            "invalid_field", f"daily_quota must be from 1 to {MAX_DAILY_QUOTA}, got {given}"
        )
    return given


# --- the row's text ---------------------------------------------------------------------------


def _joined(items: Iterable[object] | None) -> str | None:
    return None if items is None else ",".join(str(i) for i in items)


def _split(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(p for p in text.split(",") if p)


def store(row: ApiClient, limits: Limits) -> None:
    row.scopes = _joined(limits.scopes)
    row.instances = _joined(limits.instances)
    row.daily_quota = limits.daily_quota
    row.ip_allow = _joined(limits.ip_allow)


def limits_of(row: ApiClient) -> Limits:
    instances = _split(row.instances)
    return Limits(
        scopes=_split(row.scopes),
        instances=None if instances is None else tuple(int(n) for n in instances),
        daily_quota=row.daily_quota,
        ip_allow=_split(row.ip_allow),
    )


# --- checking a request -----------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """An authenticated client and what its key allows (None: no limit)."""

    client_id: str
    scopes: frozenset[str]
    instances: frozenset[int] | None = None
    daily_quota: int | None = None
    networks: tuple[Network, ...] | None = None

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            held = ", ".join(s for s in ALL_SCOPES if s in self.scopes)
            raise ApiError(
                "scope_missing",
                f"The key of {self.client_id} lacks the '{scope}' scope this operation needs "
                f"(it has: {held})",
            )

    def require_address(self, address: str) -> None:
        if self.networks is None:
            return
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is None or not any(ip.version == n.version and ip in n for n in self.networks):
            raise ApiError(
                "ip_not_allowed",
                f"The key of {self.client_id} may not be used from {address} (its ip_allow "
                "list does not include it)",
            )


def full_grant(client_id: str) -> Grant:
    return Grant(client_id, frozenset(ALL_SCOPES))


def grant_of(row: ApiClient) -> Grant:
    limits = limits_of(row)
    return Grant(
        client_id=row.client_id,
        scopes=frozenset(limits.scopes if limits.scopes is not None else ALL_SCOPES),
        instances=None if limits.instances is None else frozenset(limits.instances),
        daily_quota=limits.daily_quota,
        networks=None
        if limits.ip_allow is None
        else tuple(ipaddress.ip_network(n, strict=False) for n in limits.ip_allow),
    )


def instance_forbidden(number: int, instances: Collection[int]) -> ApiError:
    allowed = ", ".join(str(n) for n in sorted(instances))
    return ApiError(
        "instance_forbidden",
        f"This key may not use instance {number} (it is limited to instance(s) {allowed})",
    )


def require_instance(instances: Collection[int] | None, number: int) -> None:
    if instances is not None and number not in instances:
        raise instance_forbidden(number, instances)
