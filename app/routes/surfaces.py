"""The gateway's surfaces, each with its auth and error shape (app/routes/surface.py).

- whatsmate (/v3): the X-WM-CLIENT-ID and X-WM-CLIENT-SECRET headers; errors `{"error_message"}`.
- whatsmate_v1 (/v1): the same auth; sends refuse in v1's `{"success": false, "status"}`, the
  status endpoint and unknown paths in `{"error_message"}`.
- native (/api/v1): the same auth; errors `{"error": {"code", "message"}}`.
- console (/admin: the page, its files and the sign-in): the console's own cookie session.
- admin (the rest of /admin): the Bearer admin token, or the console's cookie with its CSRF
  token; native errors.
- media (/media): the link's own signature, checked by the handler; native errors.
- root (/healthz, /readyz, /metrics, /openapi.json, /docs, and every path no other surface
  serves): no auth; native errors.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from app import console_auth
from app.client_address import client_address
from app.client_limits import require_instance
from app.errors import ApiError
from app.routes.common import require_admin, services
from app.routes.surface import Surface, endpoint_in, native_body, whatsmate_body
from app.telegram.sandbox import SandboxInputError
from outbound.send_request import Credentials


def credentials(request: Request) -> Credentials:
    """The WhatsMate credential headers (and the Idempotency-Key, which travels with them)."""
    return Credentials(
        client_id=request.headers.get("x-wm-client-id"),
        secret=request.headers.get("x-wm-client-secret"),
        idempotency_key=request.headers.get("idempotency-key") or None,
    )


async def api_client(request: Request) -> None:
    """An API client's credentials (401/474), then what its key allows (403): the address it
    calls from (`ip_not_allowed`), and the scope the operation needs (`scope_missing`). Its id,
    the instances it may use and its daily quota are left in `request.state`."""
    svc = services(request)
    grant = await svc.enqueuer.authenticate(credentials(request))
    request.state.client_id = grant.client_id
    request.state.client_instances = grant.instances
    request.state.client_quota = grant.daily_quota
    if grant.networks is not None:
        grant.require_address(client_address(request, svc.settings.server))
    info = endpoint_in(request)
    if info is not None and info.scope is not None:
        grant.require_scope(info.scope)


async def api_client_websocket(request: Request) -> None:
    """`api_client` on a WebSocket handshake. Browsers cannot set headers on a WebSocket: the
    credentials may come as the `client_id` and `client_secret` query parameters instead
    (when the X-WM-CLIENT-ID header is absent). A URL is more often logged than a header
    (proxies, access logs): prefer the headers wherever the client can set them."""
    query = request.query_params
    if "x-wm-client-id" not in request.headers and "client_id" in query:
        added = [
            (b"x-wm-client-id", query.get("client_id", "").encode()),
            (b"x-wm-client-secret", query.get("client_secret", "").encode()),
        ]
        # The same state (client id, instances) as the handshake's own scope.
        request.scope.setdefault("state", {})
        scope = {**request.scope, "headers": [*request.scope["headers"], *added]}
        request = Request(scope, request.receive)
    await api_client(request)


def client_id(request: Request) -> str:
    """The authenticated API client of this request (set by `api_client`)."""
    found: str = request.state.client_id
    return found


def client_instances(request: Request) -> frozenset[int] | None:
    """The instances the authenticated client's key is limited to (None: every instance).
    Whatever a handler lists or streams for the client is cut down to these."""
    found: frozenset[int] | None = request.state.client_instances
    return found


def client_quota(request: Request) -> int | None:
    """The authenticated client's own messages a day (None: the deployment's quota alone)."""
    found: int | None = request.state.client_quota
    return found


def require_client_instance(request: Request, number: int) -> None:
    """403 `instance_forbidden` unless the client's key may use instance `number`."""
    require_instance(client_instances(request), number)


def require_named_instance(request: Request, number: int) -> None:
    """An instance the request names (a filter, a queue's): 404 `unknown_instance` if it is not
    configured, then 403 `instance_forbidden` if the client's key may not use it."""
    services(request).enqueuer.check_instance(number)
    require_client_instance(request, number)


async def console_cookie(request: Request) -> None:
    """The console's session, if its cookie holds a valid one (`console_session`); a request
    that changes something with it must carry the session's X-CSRF-Token (403 `csrf`)."""
    svc = services(request)
    session = await console_auth.current_session(
        svc.admin_token,
        request.cookies.get(console_auth.SESSION_COOKIE),
        svc.clock(),
        svc.database.factory,
    )
    if session is not None and request.method not in ("GET", "HEAD"):
        given = request.headers.get(console_auth.CSRF_HEADER)
        if not console_auth.csrf_matches(session, given):
            raise ApiError(
                "csrf", f"The {console_auth.CSRF_HEADER} header is missing or does not match"
            )
    request.state.console_session = session


def console_session(request: Request) -> console_auth.ConsoleSession | None:
    """The console session `console_cookie` found (None: not signed in)."""
    found: console_auth.ConsoleSession | None = request.state.console_session
    return found


def v1_body(exc: ApiError) -> dict[str, Any]:
    """WhatsMate v1's envelope for a refused send."""
    return {"success": False, "status": exc.message}


def _sandbox_input(exc: Exception) -> ApiError:
    return ApiError("invalid_field", str(exc))


CLIENT_SECURITY = ("WhatsmateClientId", "WhatsmateClientSecret")
WHATSMATE = Surface(
    "whatsmate",
    "/v3",
    whatsmate_body,
    auth=api_client,
    security=CLIENT_SECURITY,
    error_family="Wm",
    scoped=True,
)
WHATSMATE_V1 = Surface(
    "whatsmate_v1",
    "/v1",
    whatsmate_body,
    auth=api_client,
    security=CLIENT_SECURITY,
    error_family="Wm",
    scoped=True,
)
NATIVE = Surface(
    "native", "/api/v1", native_body, auth=api_client, security=CLIENT_SECURITY, scoped=True
)
# The console's page, files and sign-in; whatever else is under /admin is the admin API's.
# Its operations are documented with the admin token (the console's cookie is the browser's).
CONSOLE = Surface(
    "console",
    "/admin",
    native_body,
    auth=console_cookie,
    claims_all=False,
    security=("AdminBearer",),
    error_family="Admin",
)
ADMIN = Surface(
    "admin",
    "/admin",
    native_body,
    auth=require_admin,
    extra_errors={SandboxInputError: _sandbox_input},
    security=("AdminBearer",),
    error_family="Admin",
)
MEDIA = Surface("media", "/media", native_body)
ROOT = Surface("root", "", native_body)
