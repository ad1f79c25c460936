"""GET /openapi.json (the OpenAPI 3.1 description) and GET /docs (an offline reader).

The document is generated (app/routes/openapi.py) from the route table: each route's `Doc`
and the pydantic models beside it, the shared error answers of its surface, the requests the
gateway makes to webhook endpoints (`OUTGOING`) and the tags below. Limits come from the
settings, so the document tells the truth for this deployment (text length, caption length,
media sizes, quota).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.routes.admin_docs import TAG_CLIENTS, TAG_INSTANCES, TAG_SANDBOX
from app.routes.admin_schemas import LoginAlert
from app.routes.alerts_docs import OUTGOING as ALERT_OUTGOING
from app.routes.alerts_docs import TAG_ALERTS
from app.routes.apidoc import Answer, Doc
from app.routes.common import JSON, services
from app.routes.console import TAG_CONSOLE
from app.routes.conversations_docs import TAG_CONVERSATIONS
from app.routes.event_stream_schemas import StreamEnd, StreamPruned
from app.routes.health import TAG_PROBES
from app.routes.media import TAG_MEDIA
from app.routes.messages import TAG_EVENTS, TAG_MESSAGES, TAG_RECIPIENTS
from app.routes.onboarding_docs import TAG_LOGIN
from app.routes.openapi import fill_limits, generate, limit_values
from app.routes.surface import endpoint
from app.routes.surfaces import ROOT
from app.routes.webhooks_docs import OUTGOING, TAG_WEBHOOKS
from app.routes.whatsmate import TAG_V3, max_body_bytes
from app.routes.whatsmate_v1 import TAG_V1
from app.settings import Settings

# Every operation's tag, in the order the reference shows them.
TAGS: tuple[tuple[str, str], ...] = (
    (TAG_V3, "WhatsMate-compatible send endpoints."),
    (TAG_MESSAGES, "Native API: send and track messages."),
    (TAG_RECIPIENTS, "Native API: registered recipients."),
    (TAG_CONVERSATIONS, "Native API: conversation history, both directions."),
    (TAG_EVENTS, "Native API: the event log for backfill."),
    (
        TAG_V1,
        "WhatsMate's paths from before its v3 API, for old clients; new code should use v3. "
        'They answer {"success": true, "status": "queued", "id"} and, on an error, the v3 '
        'status code with {"success": false, "status": "<what is wrong>"}. Credentials, '
        "Idempotency-Key, validation, limits and the daily quota are those of v3.",
    ),
    (TAG_CLIENTS, "Admin token: API clients."),
    (TAG_INSTANCES, "Admin token: gateway instances."),
    (TAG_SANDBOX, "Admin token: sandbox instances only."),
    (
        TAG_WEBHOOKS,
        "Admin token: webhook endpoints and their deliveries. Deliveries are signed with "
        "Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature). An "
        "endpoint's `format` picks the body: 'standard' is the Event schema (top-level `number` "
        "and `message` on message.received only, so a WhatsMate-style receiver that answers "
        "every POST cannot loop on the gateway's own message.sent); 'whatsmate' receives "
        "message.received only, as the WhatsmateInbound schema (the hosted WhatsMate gateway's "
        "body), with the same signatures, retries and checks.",
    ),
    (
        TAG_ALERTS,
        "Admin token: operator alerts (unhealthy instances, dead webhook deliveries, disabled "
        "endpoints, the daily quota at 80 %) and the alert webhook they are sent to, signed "
        "like every webhook (the AlertBody schema).",
    ),
    (TAG_MEDIA, "Signed, expiring links to inbound media."),
    (
        TAG_LOGIN,
        "Admin token: bring a number into service (phone, code, 2FA password, or QR), log it "
        "out, set its name, bio and picture, see and end the account's other sessions, ask "
        "@SpamBot whether the account is limited. Every login step is an instance.status "
        "event; a login from another device is an account.login_alert event (its data: the "
        "LoginAlert schema).",
    ),
    (
        TAG_CONSOLE,
        "The web console at /admin/ signs in with the admin token and then uses a cookie "
        "session; requests that change something carry its X-CSRF-Token header.",
    ),
    (TAG_PROBES, "Unauthenticated."),
)
# Models the document shows though no operation answers with them: event data.
SHOWN = (LoginAlert, StreamEnd, StreamPruned)

SECURITY_SCHEMES = {
    "WhatsmateClientId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-WM-CLIENT-ID",
        "description": "Client id; give X-WM-CLIENT-SECRET too.",
    },
    "WhatsmateClientSecret": {
        "type": "apiKey",
        "in": "header",
        "name": "X-WM-CLIENT-SECRET",
        "description": "Client secret, shown once at creation; with X-WM-CLIENT-ID.",
    },
    "AdminBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token. After 10 wrong tokens from one address in 5 minutes, "
        "its wrong tokens are answered 429 too_many_attempts with Retry-After; the right token "
        "is always accepted.",
    },
}
AUTH_NOTE = (
    "Applications authenticate with the X-WM-CLIENT-ID and X-WM-CLIENT-SECRET headers (both); "
    "the admin API with 'Authorization: Bearer <admin token>'. Errors on /v3 and /v1 are "
    '{"error_message": ...}; on /api/v1 and /admin {"error": {"code", "message"}}.'
)


def _version() -> str:
    try:
        return metadata.version("tgw")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document for this deployment's settings (pure)."""
    from app.main import all_routes  # app.main imports this module

    limits = settings.limits
    generated = generate(all_routes(), (*OUTGOING, *ALERT_OUTGOING), SHOWN)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "tgw: Telegram gateway",
            "version": _version(),
            "summary": "Self-hosted Telegram gateway with a WhatsMate-compatible HTTP API.",
            "description": (
                "Send Telegram messages to people who registered with the gateway (they added "
                "its number to their contacts and said hi). " + AUTH_NOTE
            ),
        },
        "servers": [{"url": settings.public_url, "description": "This gateway."}],
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": generated.paths,
        # What the gateway POSTs to webhook endpoints (OpenAPI 3.1 `webhooks`).
        "webhooks": generated.webhooks,
        "components": {
            "schemas": generated.schemas,
            "responses": generated.responses,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
    values = limit_values(
        limits,
        largest_body=max_body_bytes(limits.largest_media_bytes),
        largest_native_body=max_body_bytes(limits.largest_native_media_bytes),
    )
    filled: dict[str, Any] = fill_limits(document, values)
    return filled


async def openapi(request: Request) -> Response:
    state = request.app.state
    document: dict[str, Any] | None = getattr(state, "tgw_openapi", None)
    if document is None:
        document = build_openapi(services(request).settings)
        state.tgw_openapi = document
    return JSON(document)


# --- the reference page -----------------------------------------------------------------------

DOCS_DIR = Path(__file__).resolve().parent.parent / "static" / "docs"


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@functools.cache
def reference_page() -> tuple[str, dict[str, str]]:
    """The /docs page from app/static/docs/, and its headers.

    The style and script are inlined so that the page is one self-contained file whose
    Content-Security-Policy allows exactly them (by hash) and nothing else.
    """
    style = (DOCS_DIR / "reference.css").read_text(encoding="utf-8")
    script = (DOCS_DIR / "reference.js").read_text(encoding="utf-8")
    page = (DOCS_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace("{style}", style).replace("{script}", script)
    headers = {
        # Nothing but this page's own script and style may run; it may only talk to this server.
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
            "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return page, headers


async def docs(request: Request) -> Response:
    page, headers = reference_page()
    return HTMLResponse(page, headers=headers)


routes = [
    endpoint(
        ROOT,
        "/openapi.json",
        openapi,
        doc=Doc(
            "openapi",
            TAG_PROBES,
            "This document",
            "The OpenAPI 3.1 description of this API.",
            {200: Answer("The document.")},
        ),
    ),
    endpoint(
        ROOT,
        "/docs",
        docs,
        doc=Doc(
            "docs",
            TAG_PROBES,
            "API reference page",
            "A readable reference built from /openapi.json; works offline.",
            {200: Answer("An HTML page.", media="text/html")},
        ),
    ),
]
