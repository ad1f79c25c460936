"""GET /openapi.json (a hand-written OpenAPI 3.1 description) and GET /docs (an offline reader).

The document is written here by hand, not derived from the handlers: keep it in step with
app/routes/{whatsmate,whatsmate_v1,messages,admin,health}.py (tests/app/test_docs.py checks
that every route is described and every described operation is routed). Limits come from the
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

from app.instances import STATUSES
from app.routes.apidoc import Answer, Doc
from app.routes.common import JSON, services
from app.routes.health import TAG_PROBES
from app.routes.messages import TAG_EVENTS, TAG_MESSAGES, TAG_RECIPIENTS
from app.routes.openapi import fill_limits, generate, limit_values
from app.routes.surface import endpoint
from app.routes.surfaces import ROOT
from app.routes.whatsmate import max_body_bytes
from app.routes.whatsmate_v1 import TAG_V1
from app.settings import LimitsSettings, Settings

Schema = dict[str, Any]

SCOPES = ("single", "group")
INSTANCE_STATUSES = STATUSES
RECIPIENT_STATUSES = ("registered", "pending", "unregistered")
CLIENT_STATES = ("active", "expired", "revoked")
SEND_ERROR_STATUSES = (400, 401, 404, 409, 413, 469, 470, 471, 472, 474, 503)
MIB = 1024 * 1024

TAG_V3 = "WhatsMate v3"
TAG_CLIENTS = "Admin: clients"
TAG_INSTANCES = "Admin: instances"
TAG_SANDBOX = "Admin: sandbox"

CLIENT_AUTH: list[dict[str, list[str]]] = [{"WhatsmateClientId": [], "WhatsmateClientSecret": []}]
ADMIN_AUTH: list[dict[str, list[str]]] = [{"AdminBearer": []}]
NO_AUTH: list[dict[str, list[str]]] = []


# --- small schema helpers -------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def integer(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "description": description, **extra}


def boolean(description: str, **extra: Any) -> Schema:
    return {"type": "boolean", "description": description, **extra}


def nullable(schema: Schema) -> Schema:
    """The same schema, also allowing null (JSON Schema 2020-12 type lists)."""
    return {**schema, "type": [schema["type"], "null"]}


def timestamp(description: str, *, null: bool = False) -> Schema:
    schema = string(description, format="date-time")
    return nullable(schema) if null else schema


def array(items: Schema, description: str, **extra: Any) -> Schema:
    return {"type": "array", "description": description, "items": items, **extra}


def obj(
    properties: dict[str, Schema], required: tuple[str, ...] = (), description: str = ""
) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def closed(schema: Schema) -> Schema:
    """An object body that refuses unknown fields (a 400 naming them)."""
    return {**schema, "additionalProperties": False}


# Instance numbers are 32-bit integers (INTEGER columns); larger ones are unknown (404).
INSTANCE_NUMBER_MAX = 2**31 - 1


def base64_field(description: str) -> Schema:
    return string(description, format="byte", contentEncoding="base64", minLength=1)


def human(size: int) -> str:
    """2097152 -> '2 MiB (2097152 bytes)'; 1000 -> '1000 bytes'."""
    if size >= MIB and size % 1024 == 0:
        return f"{size / MIB:.3g} MiB ({size} bytes)"
    return f"{size} bytes"


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": json_content(schema)}


def body(schema: Schema, description: str, *, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "content": json_content(schema)}


def param(
    name: str, where: str, schema: Schema, description: str, *, required: bool = False
) -> Schema:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema,
    }


def param_ref(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def errors(surface: str, *statuses: int, **descriptions: str) -> dict[str, Any]:
    """References to the shared error responses; `e404="..."` overrides one description."""
    answers: dict[str, Any] = {}
    for status in statuses:
        answer: Schema = {"$ref": f"#/components/responses/{surface}{status}"}
        if f"e{status}" in descriptions:
            answer["description"] = descriptions[f"e{status}"]
        answers[str(status)] = answer
    return answers


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    description: str,
    responses: dict[str, Any],
    *,
    security: list[dict[str, list[str]]],
    parameters: list[Schema] | None = None,
    request_body: dict[str, Any] | None = None,
) -> Schema:
    op: Schema = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "security": security,
    }
    if parameters:
        op["parameters"] = parameters
    if request_body is not None:
        op["requestBody"] = request_body
    op["responses"] = responses
    return op


# --- components -------------------------------------------------------------------------------


def _retry_after(description: str) -> dict[str, Any]:
    return {
        "Retry-After": {
            "description": description,
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    }


def _number(field: str = "number") -> Schema:
    return string(
        f"Phone number with the country code and no '+' ({field}); a leading '+', spaces and "
        "dashes are tolerated and stripped. Must be a real phone number.",
        minLength=1,
        examples=["14155552671"],
    )


def _group_fields() -> dict[str, Schema]:
    return {
        "group_name": string(
            "Title of the Telegram group; the gateway account must be a member.",
            minLength=1,
            maxLength=255,
        ),
        "group_admin": _number("the number of the group's creator"),
    }


def _media_text(kind: str, limits: LimitsSettings) -> str:
    what = {
        "image": "a JPEG, PNG or WebP picture",
        "document": "any file",
        "audio": "an MP3, M4A, OGG, WAV or FLAC file",
        "voice_note": "an OGG/Opus (or MP3, M4A) recording",
    }[kind]
    limit = limits.image_bytes if kind == "image" else limits.document_bytes
    if kind in ("audio", "voice_note"):
        limit = limits.audio_bytes
    return (
        f"{what[0].upper()}{what[1:]}, in standard base64 (whitespace and a data: URI prefix "
        "are tolerated); "
        f"at most {human(limit)} once decoded. The bytes are checked, not the file name."
    )


def _schemas(limits: LimitsSettings) -> dict[str, Schema]:
    schemas: dict[str, Schema] = {}
    return schemas


# --- paths ------------------------------------------------------------------------------------


def _version() -> str:
    try:
        return metadata.version("tgw")
    except metadata.PackageNotFoundError:
        return "0.0.0"


TAGS_V1 = [
    {
        "name": TAG_V1,
        "description": (
            "WhatsMate's paths from before its v3 API, for old clients; new code should use v3. "
            'They answer {"success": true, "status": "queued", "id"} and, on an error, the v3 '
            'status code with {"success": false, "status": "<what is wrong>"}. Credentials, '
            "Idempotency-Key, validation, limits and the daily quota are those of v3."
        ),
    }
]


def _merge(written: dict[str, Any], generated: dict[str, Any]) -> dict[str, Any]:
    merged = {path: dict(item) for path, item in written.items()}
    for path, item in generated.items():
        merged.setdefault(path, {}).update(item)
    return merged


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document for this deployment's settings (pure)."""
    from app.main import all_routes  # app.main imports this module

    limits = settings.limits
    largest_body = max_body_bytes(limits.largest_media_bytes)
    generated = generate(all_routes())
    auth_note = (
        "Applications authenticate with the X-WM-CLIENT-ID and X-WM-CLIENT-SECRET headers "
        "(both); the admin API with 'Authorization: Bearer <admin token>'. Errors on /v3 and "
        '/v1 are {"error_message": ...}; on /api/v1 and /admin '
        '{"error": {"code", "message"}}.'
    )
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "tgw: Telegram gateway",
            "version": _version(),
            "summary": "Self-hosted Telegram gateway with a WhatsMate-compatible HTTP API.",
            "description": (
                "Send Telegram messages to people who registered with the gateway (they added "
                "its number to their contacts and said hi). " + auth_note
            ),
        },
        "servers": [{"url": settings.public_url, "description": "This gateway."}],
        "tags": [
            {"name": TAG_V3, "description": "WhatsMate-compatible send endpoints."},
            {"name": TAG_MESSAGES, "description": "Native API: send and track messages."},
            {"name": TAG_RECIPIENTS, "description": "Native API: registered recipients."},
            {"name": TAG_EVENTS, "description": "Native API: the event log for backfill."},
            *TAGS_V1,
            {"name": TAG_CLIENTS, "description": "Admin token: API clients."},
            {"name": TAG_INSTANCES, "description": "Admin token: gateway instances."},
            {"name": TAG_SANDBOX, "description": "Admin token: sandbox instances only."},
            *docs_webhooks.TAGS,
            *docs_onboarding.TAGS,
            {"name": TAG_PROBES, "description": "Unauthenticated."},
        ],
        "paths": _merge(
            {
                **docs_webhooks.paths(),
                **docs_onboarding.paths(),
            },
            generated.paths,
        ),
        # What the gateway POSTs to webhook endpoints (OpenAPI 3.1 `webhooks`).
        "webhooks": docs_webhooks.outgoing(),
        "components": {
            "schemas": {
                **_schemas(limits),
                **docs_webhooks.schemas(),
                **docs_onboarding.schemas(),
                **generated.schemas,
            },
            "responses": generated.responses,
            "parameters": {
                "Instance": param(
                    "instance",
                    "path",
                    integer("Instance number (ASCII digits).", minimum=1),
                    "Gateway instance number (1 for the first account).",
                ),
                "IdempotencyKey": param(
                    "Idempotency-Key",
                    "header",
                    string("Any unique string.", minLength=1, maxLength=255),
                    "The same key with the same body within 24 h returns the first answer and "
                    "sends once; with another body: 409.",
                ),
            },
            "securitySchemes": {
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
                    "description": "The admin token. After 10 wrong tokens from one address in "
                    "5 minutes, its wrong tokens are answered 429 too_many_attempts with "
                    "Retry-After; the right token is always accepted.",
                },
            },
        },
    }

    filled: dict[str, Any] = fill_limits(document, limit_values(limits, largest_body=largest_body))
    return filled


from app.routes import docs_onboarding, docs_webhooks  # noqa: E402  (built on the above)


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
