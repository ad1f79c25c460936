"""Operations on a session another process holds are passed to that process.

Logging an instance in or out, its profile, its Telegram sessions and its health check need
the live session, which one process of the deployment holds (app/lease.py); so do a client's
reachability checks and history backfills. A process that does not hold it (an `api` process,
or a worker holding other instances) raises `HeldElsewhere`; the surface's error handler then
asks `answer`, which sends the same request to the holder's address from the registry
(app/cluster/registry.py) and answers with its answer. One hop only: a forwarded request that
lands on a process that does not hold the session either (the lease moved meanwhile) is
refused with 409, never passed on again.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

import httpx
from sqlalchemy import bindparam, text
from starlette.requests import Request
from starlette.responses import Response

from app.cluster.view import database_now
from app.db import Database
from app.errors import ApiError
from app.models import UTCDateTime
from app.settings import Settings

log = logging.getLogger(__name__)

# Set on a forwarded request (the forwarding process's id): such a request is never forwarded.
FORWARDED_BY = "x-tgw-forwarded-by"
# A login asks Telegram for a code, a photo is resized and uploaded: allow for slow answers.
FORWARD_TIMEOUT_S = 60.0
_NOT_PASSED = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade", "te"}
)
_NOT_RETURNED = frozenset({"content-length", "connection", "keep-alive", "transfer-encoding"})

_HOLDER = """
SELECT p.id, p.address FROM instance_lease l JOIN cluster_process p ON p.id = l.owner
WHERE l.instance = :n AND l.expires_at > :now AND p.expires_at > :now
"""


def default_address(settings: Settings) -> str:
    """How the other processes reach this one when `[cluster] advertise_url` is not set: the
    address it listens on, or, listening on every address, the one it reaches the database
    from (on a container network, the address its peers reach it at)."""
    host, port = settings.server.host, settings.server.port
    try:
        wildcard = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        wildcard = False
    if wildcard:
        host = _outbound_ip(settings.database.url) or socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _outbound_ip(database_url: str) -> str | None:
    """The local address of a route to the database's host (no packet is sent)."""
    target = urlsplit(database_url.replace("+asyncpg", "")).hostname or "192.0.2.1"
    try:
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((target, 9))
            address: str = probe.getsockname()[0]
    except OSError:
        return None
    return None if ipaddress.ip_address(address).is_loopback else address


def held_elsewhere(request: Request, number: int) -> bool:
    """Whether another process of the deployment holds (or may hold) `number`'s session."""
    lease = request.app.state.services.telegram.leases.get(number)
    return lease is not None and not lease.held


class HeldElsewhere(ApiError):
    """This process does not hold `number`'s session: pass the request to the one that does
    (`answer`), or refuse it with 409 when that cannot be done.

    `body`: the request's body when the handler has read it as a stream (it cannot be read
    again). `admin`: the request is the admin's, who can also go to the holder directly."""

    def __init__(self, number: int, *, body: bytes | None = None, admin: bool = True) -> None:
        hint = ", or use that process's admin API (GET /admin/cluster lists it)" if admin else ""
        super().__init__(
            "conflict",
            f"Another tgw process has instance {number}'s Telegram session open and could not"
            f" be reached; retry{hint}",
        )
        self.number = number
        self.body = body

    async def answer(self, request: Request) -> Response | None:
        """The holder's answer to the same request, or None (then the 409 stands)."""
        services = request.app.state.services
        if request.headers.get(FORWARDED_BY):
            return None  # already forwarded once: the lease moved; the caller retries
        holder = await _holder(services.database, self.number)
        if holder is None:
            self.message = (
                f"No tgw process holds instance {self.number}'s Telegram session now (a worker"
                " process takes it over within seconds of starting); retry"
            )
            return None
        if holder[0] == services.process_id or not holder[1]:
            return None
        try:
            body = self.body if self.body is not None else await request.body()
        except RuntimeError:  # read by the handler and not kept: it cannot be sent again
            return None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_PASSED}
        headers[FORWARDED_BY] = services.process_id
        url = f"{holder[1].rstrip('/')}{request.url.path}"
        try:
            async with httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S, trust_env=False) as client:
                reply = await client.request(
                    request.method,
                    url,
                    params=list(request.query_params.multi_items()),
                    content=body,
                    headers=headers,
                )
        except httpx.HTTPError as exc:
            log.warning("instance %s: could not reach its holder at %s: %r", self.number, url, exc)
            return None
        kept = {k: v for k, v in reply.headers.items() if k.lower() not in _NOT_RETURNED}
        return Response(reply.content, status_code=reply.status_code, headers=kept)


async def _holder(database: Database, number: int) -> tuple[str, str | None] | None:
    """The live registered process holding `number`'s lease, and its address (judged by the
    clock the leases expire by)."""
    async with database.read() as session:
        now = await database_now(session)
        statement = text(_HOLDER).bindparams(bindparam("now", type_=UTCDateTime))
        row = (await session.execute(statement, {"n": number, "now": now})).first()
    return (str(row[0]), row[1]) if row is not None else None
