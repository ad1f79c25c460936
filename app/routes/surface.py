"""Surfaces: each part of the HTTP API is a Starlette `Mount` with its own auth and errors.

A surface (WhatsMate v3, WhatsMate v1, the native `/api/v1`, admin, console, media, health and
docs) decides two things for every request it serves:
- who may call it: its `Auth` runs before the handler (a handler never calls auth itself), and
  what it finds is left on `request.state` (`client_id` of an API client);
- how a refusal looks: every `ApiError` a handler raises, a database outage, an unknown path or
  a wrong method is answered in the surface's own error shape by the Mount's exception
  handlers, so handlers hold no `try ... except ApiError`.

Routes are declared with `endpoint()`, which keeps what the OpenAPI document needs beside the
handler (`Endpoint` on the handler): the surface, whether it is public, whether a refusal
counts as a refused send, and the operation's documentation (`Doc`, app/routes/apidoc.py), from
which app/routes/openapi.py generates the document.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import Scope as AsgiScope
from starlette.websockets import WebSocket, WebSocketState

from app.db import database_unavailable
from app.errors import ApiError
from app.routes.apidoc import Doc, Expansion
from app.routes.common import JSON, services
from app.vocabulary import Scope, values

log = logging.getLogger(__name__)

SCOPES = values(Scope)

Handler = Callable[[Request], Awaitable[Response]]
# A WebSocket operation: it accepts the connection itself, once it has checked its input.
WebSocketHandler = Callable[[WebSocket], Awaitable[None]]
# Checks the caller before the handler runs; raises ApiError to refuse.
Auth = Callable[[Request], Awaitable[None]]
# An ApiError as a JSON body, in a surface's shape.
ErrorBody = Callable[[ApiError], dict[str, Any]]


def whatsmate_body(exc: ApiError) -> dict[str, Any]:
    return exc.whatsmate_body()


def native_body(exc: ApiError) -> dict[str, Any]:
    return exc.native_body()


@dataclass(frozen=True)
class Surface:
    """One part of the API: its auth, its error shape, and where it is mounted.

    `claims_all`: a request under `prefix` that none of the surface's routes matches is
    answered here (404 or 405 in the surface's shape). A surface that shares its prefix with
    another one (the console and admin both live under /admin; probes and docs at the root)
    lets such a request fall through to the next surface instead.
    """

    name: str
    prefix: str
    error_body: ErrorBody
    auth: Auth | None = None
    claims_all: bool = True
    # The OpenAPI security schemes a caller presents (all of them), and the family of shared
    # error answers its operations refer to ("Wm", "Native", "Admin").
    security: tuple[str, ...] = ()
    error_family: str = "Native"
    # Its callers are API clients, whose keys carry scopes: each operation names the one it
    # needs (`Endpoint.scope`).
    scoped: bool = False
    # Refusals of these exception types, besides ApiError, in this surface's shape.
    extra_errors: dict[type[Exception], Callable[[Exception], ApiError]] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class Endpoint:
    """What the route table knows of one operation besides its handler."""

    surface: Surface
    path: str
    methods: tuple[str, ...]
    handler: Handler | WebSocketHandler
    public: bool = False
    # A send: its refusals count in tgw_requests_refused.
    sends: bool = False
    # The operation's own error shape, where it differs from its surface's.
    error_body: ErrorBody | None = None
    # The operation's documentation; a generic route documents each concrete path it serves
    # as an operation of its own (`expansions`) instead.
    doc: Doc | None = None
    expansions: tuple[Expansion, ...] = ()
    # The scope an API client's key needs (Scope) on a `scoped` surface.
    scope: str | None = None
    # A WebSocket operation (no HTTP methods; documented by the HTTP operation at its path).
    websocket: bool = False


def endpoint(
    surface: Surface,
    path: str,
    handler: Handler,
    *,
    methods: Sequence[str] = ("GET",),
    public: bool = False,
    sends: bool = False,
    error_body: ErrorBody | None = None,
    doc: Doc | None = None,
    expansions: Sequence[Expansion] = (),
    scope: str | None = None,
) -> Route:
    """A route of `surface` at `path` (the full path, prefix included): the surface's auth
    runs first unless `public`. On a `scoped` surface, `scope` says what the caller's key must
    allow (a send needs `send` unless it says otherwise)."""
    if not path.startswith(surface.prefix):
        raise ValueError(f"{path} is not under the {surface.name} surface's {surface.prefix}")
    if sends and scope is None:
        scope = Scope.SEND
    if surface.scoped and not public and scope is None:
        raise ValueError(f"{path} on the {surface.name} surface must name the scope it needs")
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r} for {path}")
    info = Endpoint(
        surface,
        path,
        tuple(methods),
        handler,
        public,
        sends,
        error_body,
        doc,
        tuple(expansions),
        scope,
    )
    auth = None if public else surface.auth

    async def run(request: Request) -> Response:
        if auth is not None:
            await auth(request)
        return await handler(request)

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    run.endpoint = info  # type: ignore[attr-defined]
    relative = path.removeprefix(surface.prefix) or "/"
    return Route(relative, run, methods=list(methods), name=handler.__name__)


def websocket_endpoint(
    surface: Surface,
    path: str,
    handler: WebSocketHandler,
    *,
    scope: str | None = None,
    auth: Auth | None = None,
) -> WebSocketRoute:
    """A WebSocket route of `surface` at `path`: the surface's auth (or `auth`, for callers
    that cannot send headers) runs on the handshake before the handler.

    A refusal (ApiError) before the connection is accepted is answered as the HTTP error the
    same request would get (status and the surface's JSON body) where the server supports
    that; otherwise, and after the accept, the connection is closed with code 4000 + the
    status (4401, 4400, 4503) and the message as the reason."""
    if not path.startswith(surface.prefix):
        raise ValueError(f"{path} is not under the {surface.name} surface's {surface.prefix}")
    if surface.scoped and scope is None:
        raise ValueError(f"{path} on the {surface.name} surface must name the scope it needs")
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r} for {path}")
    info = Endpoint(surface, path, (), handler, scope=scope, websocket=True)
    check = auth or surface.auth

    async def run(websocket: WebSocket) -> None:
        try:
            if check is not None:
                await check(handshake_request(websocket))
            await handler(websocket)
        except ApiError as exc:
            await refuse_websocket(surface, websocket, exc)
        except Exception as exc:
            unavailable = database_unavailable(exc)
            if unavailable is not None:
                await refuse_websocket(surface, websocket, unavailable)
                return
            log.exception("unhandled error on the WebSocket %s", websocket.url.path)
            await refuse_websocket(surface, websocket, ApiError("internal_error", "Internal error"))

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    run.endpoint = info  # type: ignore[attr-defined]
    relative = path.removeprefix(surface.prefix) or "/"
    return WebSocketRoute(relative, run, name=f"{handler.__name__}_websocket")


def handshake_request(websocket: WebSocket) -> Request:
    """A WebSocket's handshake as the GET request it is: what reads a Request (the auth, the
    query parsers, `services`) reads it, and the request state is the WebSocket's own."""
    websocket.scope.setdefault("state", {})
    return Request({**websocket.scope, "type": "http", "method": "GET"}, websocket.receive)


# A close reason is at most 123 bytes (RFC 6455, 5.5: a control frame's 125 less the code).
_REASON_BYTES = 123


def close_reason(text: str) -> str:
    return text.encode()[:_REASON_BYTES].decode(errors="ignore")


async def refuse_websocket(surface: Surface, websocket: WebSocket, exc: ApiError) -> None:
    connecting = websocket.application_state is WebSocketState.CONNECTING
    if connecting and "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = surface.error_body(exc)
        response = JSON(body, status_code=exc.status, headers=exc.headers)
        await websocket.send_denial_response(response)
        return
    if websocket.application_state is not WebSocketState.DISCONNECTED:
        await websocket.close(4000 + exc.status, close_reason(exc.message))


def endpoint_of(route: BaseRoute) -> Endpoint | None:
    """The `Endpoint` a route was declared with, if any."""
    info = getattr(getattr(route, "endpoint", None), "endpoint", None)
    return info if isinstance(info, Endpoint) else None


def endpoint_in(request: Request) -> Endpoint | None:
    """The `Endpoint` of the route serving `request` (None before routing found one)."""
    info = getattr(request.scope.get("endpoint"), "endpoint", None)
    return info if isinstance(info, Endpoint) else None


# --- answering refusals -------------------------------------------------------------------


def _refusal(surface: Surface, request: Request, exc: ApiError) -> Response:
    info = endpoint_in(request)
    if info is not None and info.sends:
        services(request).metrics.refused.labels(str(exc.status)).inc()
    shape = info.error_body if info is not None and info.error_body is not None else None
    body = (shape or surface.error_body)(exc)
    return JSON(body, status_code=exc.status, headers=exc.headers)


def internal_error(request: Request, exc: Exception) -> Response:
    """A 500 in a body every client can read: both the WhatsMate and the native shape."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSON(
        {
            "error_message": "Internal error; nothing was accepted. Please retry.",
            "error": {"code": "internal_error", "message": "Internal error"},
        },
        status_code=500,
    )


def http_error(request: Request, exc: HTTPException) -> ApiError:
    """Starlette's own 404 (no route) and 405 (wrong method) as the API's errors."""
    if exc.status_code == 404:
        return ApiError("not_found", f"No such endpoint: {request.method} {request.url.path}")
    if exc.status_code == 405:
        return ApiError(
            "method_not_allowed",
            f"Method {request.method} is not allowed on {request.url.path}",
        )
    return ApiError("bad_request", str(exc.detail))


def exception_handlers(surface: Surface) -> dict[Any, Callable[[Request, Exception], Any]]:
    """Every failure of a request, answered in `surface`'s shape; never a bare traceback."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        # An error that may be answered otherwise (app/cluster/forward.py HeldElsewhere: by
        # the process holding the session) tries that first.
        answer = getattr(exc, "answer", None)
        if answer is not None:
            answered: Response | None = await answer(request)
            if answered is not None:
                return answered
        return _refusal(surface, request, exc)

    async def starlette_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _refusal(surface, request, http_error(request, exc))

    async def database_error(request: Request, exc: Exception) -> Response:
        # An outage is a 503 (never a 500); an OSError counts only when the database raised it.
        unavailable = database_unavailable(exc, via_database=not isinstance(exc, OSError))
        if unavailable is not None:
            return _refusal(surface, request, unavailable)
        return internal_error(request, exc)

    async def unexpected(request: Request, exc: Exception) -> Response:
        for kind, convert in surface.extra_errors.items():
            if isinstance(exc, kind):
                return _refusal(surface, request, convert(exc))
        unavailable = database_unavailable(exc)
        if unavailable is not None:
            return _refusal(surface, request, unavailable)
        return internal_error(request, exc)

    return {
        HTTPException: starlette_error,
        ApiError: api_error,
        SQLAlchemyError: database_error,
        sqlite3.Error: database_error,
        OSError: database_error,
        Exception: unexpected,
    }


# --- mounting -------------------------------------------------------------------------------


class SurfaceMount(Mount):
    """A surface's routes under its prefix, with its exception handlers around them."""

    def __init__(self, surface: Surface, routes: Sequence[BaseRoute]) -> None:
        super().__init__(
            surface.prefix,
            routes=list(routes),
            name=surface.name,
            middleware=[Middleware(ExceptionMiddleware, handlers=exception_handlers(surface))],
        )
        self.surface = surface
        # A path may hold any character, a line break too (%0A): Starlette's pattern for the
        # prefix would stop at one and leave the request to its plain-text 404.
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)

    def matches(self, scope: AsgiScope) -> tuple[Match, AsgiScope]:
        match, child = super().matches(scope)
        if match is Match.NONE or self.surface.claims_all:
            return match, child
        inner = {**scope, **child}
        if any(route.matches(inner)[0] is not Match.NONE for route in self.routes):
            return match, child
        return Match.NONE, {}


def mounts(surfaces: Sequence[Surface], routes: Sequence[BaseRoute]) -> list[SurfaceMount]:
    """One Mount per surface, in the order given (a surface that lets unmatched requests fall
    through must come before another one with the same prefix), each with its routes."""
    by_surface: dict[str, list[BaseRoute]] = {s.name: [] for s in surfaces}
    for route in routes:
        info = endpoint_of(route)
        if info is None or info.surface.name not in by_surface:
            raise ValueError(f"route {getattr(route, 'path', route)!r} belongs to no surface")
        by_surface[info.surface.name].append(route)
    return [SurfaceMount(s, by_surface[s.name]) for s in surfaces]
