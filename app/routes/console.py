"""The admin console: GET /admin/ (one page, its CSS and JS), its sign-in, and two read views.

The page is plain HTML, CSS and JavaScript from app/static/console/, served by the app itself
(no CDN: it works offline) under a strict Content-Security-Policy. It signs in with the admin
token (POST /admin/session: a cookie session, app/console_auth.py) and then calls the same
admin JSON API as scripts do; `require_admin` accepts the cookie plus its X-CSRF-Token.

Two admin endpoints exist for the console: GET /admin/recipients and GET /admin/messages, the
same answers as /api/v1/recipients and /api/v1/messages but for every client (the console has
no API client credentials).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from app import console_auth, lockout, vocabulary
from app.client_address import request_origin
from app.errors import ApiError
from app.routes.apidoc import Answer, Body, Doc, Omitted, Timestamp
from app.routes.bodies import Body as BodyModel
from app.routes.bodies import parse_body
from app.routes.common import (
    JSON,
    parse_json_object,
    read_body,
    services,
)
from app.routes.error_answers import NativeError
from app.routes.messages import message_page, recipient_page
from app.routes.messages_schemas import MessageList, MessageQuery, RecipientList, RecipientQuery
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN, CONSOLE, ROOT, console_session
from app.routes.views import View
from app.timestamps import iso

Handler = Callable[[Request], Awaitable[Response]]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "console"
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
SIGN_IN_BODY_LIMIT = 4096

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


# --- the page -------------------------------------------------------------------------------


async def to_console(request: Request) -> Response:
    # Relative, so that it also works behind a proxy that mounts the gateway under a prefix.
    return RedirectResponse("admin/", status_code=308)


async def page(request: Request) -> Response:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers=SECURITY_HEADERS,
    )


# Made from app/vocabulary.py, not a file: the console lists the gateway's own statuses.
VOCABULARY_JS = "vocabulary.js"


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name == VOCABULARY_JS:
        return Response(
            vocabulary.for_the_console(),
            media_type="text/javascript; charset=utf-8",
            headers=SECURITY_HEADERS,
        )
    media_type = ASSETS.get(name)
    if media_type is None:
        raise ApiError("not_found", f"No console file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=SECURITY_HEADERS)


# --- the session ----------------------------------------------------------------------------


class ConsoleSession(View):
    signed_in: bool
    csrf_token: str | Omitted = Field(
        None, description="Send it as X-CSRF-Token with every change."
    )
    expires_at: Timestamp | Omitted = Field(None, description="When the session ends (12 h).")


def _a_token(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("missing", "Field required")
    return value.strip()


class SignIn(BodyModel):
    # The title names it in "Missing field 'token' (the admin token)".
    token: Annotated[str, BeforeValidator(_a_token)] = Field(
        title="the admin token", description="The admin token."
    )


async def _given_token(request: Request) -> str:
    body = await read_body(request, SIGN_IN_BODY_LIMIT)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        # A form's other fields are the browser's business: only the token is read.
        values = parse_qs(body.decode("utf-8", "replace")).get("token", [])
        data: dict[str, Any] = {"token": values[0]} if values else {}
    else:
        data = parse_json_object(body)
    return parse_body(SignIn, data).token


def _set_cookie(response: Response, value: str, max_age: int, *, secure: bool) -> None:
    response.set_cookie(
        console_auth.SESSION_COOKIE,
        value,
        max_age=max_age,
        path=console_auth.COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def _session_body(session: console_auth.ConsoleSession) -> ConsoleSession:
    return ConsoleSession(
        signed_in=True, csrf_token=session.csrf_token, expires_at=iso(session.expires_at)
    )


WRONG_TOKEN = (
    "The admin token is wrong. It is in the file tgw.admin-token beside the database "
    "(`tgw admin-token` prints it), or [security] admin_token in the configuration."
)


async def sign_in(request: Request) -> Response:
    svc = services(request)
    origin = request_origin(request, svc.settings.server)
    now = svc.clock()
    token = await _given_token(request)
    # 401 or, after too many wrong tokens from this address, 429; the right one always passes.
    lockout.check_admin_token(
        token,
        svc.admin_token,
        origin.address,
        now,
        lockout.admin_limiter(request.app.state),
        WRONG_TOKEN,
    )
    cookie, session = console_auth.issue(svc.admin_token, now)
    response = JSON(_session_body(session))
    _set_cookie(response, cookie, console_auth.SESSION_TTL_S, secure=origin.scheme == "https")
    return response


async def session_info(request: Request) -> Response:
    """The current session's CSRF token and expiry (a reloaded page needs the token again)."""
    session = console_session(request)
    if session is None:
        raise ApiError("unauthorized", "Not signed in to the console")
    return JSON(_session_body(session))


async def sign_out(request: Request) -> Response:
    svc = services(request)
    now = svc.clock()
    session = console_session(request)
    if session is not None:
        async with svc.database.write() as db:
            await console_auth.record_sign_out(db, session, now)
    response = JSON(ConsoleSession(signed_in=False))
    secure = request_origin(request, svc.settings.server).scheme == "https"
    _set_cookie(response, "", 0, secure=secure)
    return response


# --- what the document says of them -------------------------------------------------------

TAG_CONSOLE = "Admin: console"


class AdminMessageQuery(MessageQuery):
    order: Literal["newest", "oldest"] = Field("newest", description="newest or oldest")


# The session's operations have no security: the token is the sign-in's body, and the cookie
# is the browser's.
SIGN_IN = Doc(
    "consoleSignIn",
    TAG_CONSOLE,
    "Sign in to the console",
    "Checks the admin token and sets an HttpOnly, SameSite=Strict session cookie. After 10 "
    "wrong tokens from one address in 5 minutes (counted with wrong Bearer tokens), its wrong "
    "tokens are answered 429; the right token is always accepted.",
    {
        200: Answer("Signed in.", ConsoleSession),
        429: Answer("too_many_attempts: wait `Retry-After` seconds.", NativeError),
    },
    errors=(400, 401),
    security=(),
    body=Body(SignIn, "The admin token (JSON or a form field)."),
)
SESSION_INFO = Doc(
    "consoleSession",
    TAG_CONSOLE,
    "The current console session",
    "Its CSRF token again (after a page reload).",
    {200: Answer("The session.", ConsoleSession)},
    errors=(401,),
    security=(),
)
SIGN_OUT = Doc(
    "consoleSignOut",
    TAG_CONSOLE,
    "Sign out",
    "Deletes the cookie; the session is refused from then on.",
    {200: Answer("Signed out.", ConsoleSession)},
    errors=(401,),
    security=(),
)
ADMIN_RECIPIENTS = Doc(
    "adminListRecipients",
    TAG_CONSOLE,
    "List recipients (admin)",
    "The answer of GET /api/v1/recipients, with the admin token or the console session.",
    {200: Answer("Recipients.", RecipientList)},
    errors=(400, 401),
    query=RecipientQuery,
)
ADMIN_MESSAGES = Doc(
    "adminListMessages",
    TAG_CONSOLE,
    "List messages (admin)",
    "Every client's messages and the gateway's own replies, newest first by default.",
    {200: Answer("A page of messages.", MessageList)},
    errors=(400, 401),
    query=AdminMessageQuery,
)


# --- read views for the console -------------------------------------------------------------


async def admin_recipients(request: Request) -> Response:
    """GET /admin/recipients?status=&instance=&limit=: as /api/v1/recipients."""
    svc = services(request)
    async with svc.database.read() as session:
        page_ = await recipient_page(session, request.query_params)
    return JSON(page_)


async def admin_messages(request: Request) -> Response:
    """GET /admin/messages?status=&after=&limit=&order=: every client's messages.

    Newest first by default (`order=oldest` for the API's order); `next` is the cursor.
    """
    svc = services(request)
    order = request.query_params.get("order") or "newest"
    if order not in ("newest", "oldest"):
        raise ApiError("invalid_field", "'order' must be newest or oldest")
    async with svc.database.read() as session:
        page_ = await message_page(
            session, request.query_params, None, newest_first=order == "newest"
        )
    return JSON(page_)


routes = [
    endpoint(CONSOLE, "/admin/", page, public=True),
    endpoint(CONSOLE, "/admin/static/{name:str}", asset, public=True),
    endpoint(CONSOLE, "/admin/session", sign_in, methods=["POST"], public=True, doc=SIGN_IN),
    endpoint(CONSOLE, "/admin/session", session_info, doc=SESSION_INFO),
    endpoint(CONSOLE, "/admin/session", sign_out, methods=["DELETE"], doc=SIGN_OUT),
    # Admin API endpoints, for the console's views.
    endpoint(ADMIN, "/admin/recipients", admin_recipients, doc=ADMIN_RECIPIENTS),
    endpoint(ADMIN, "/admin/messages", admin_messages, doc=ADMIN_MESSAGES),
    # "/admin" itself is no path under the /admin mounts: the root surface sends it on.
    endpoint(ROOT, "/admin", to_console, public=True),
]
