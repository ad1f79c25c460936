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
from app.routes.messages import MESSAGE_STATUSES, TAG_EVENTS, TAG_MESSAGES, TAG_RECIPIENTS
from app.routes.openapi import fill_limits, generate, limit_values
from app.routes.surface import endpoint
from app.routes.surfaces import ROOT
from app.routes.whatsmate import max_body_bytes
from app.routes.whatsmate_v1 import TAG_V1
from app.settings import LimitsSettings, Settings
from app.telegram.port import MEDIA_KINDS
from app.telegram.sandbox import FAULT_ERRORS

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
    client = {
        "client_id": string("The client id (e-mail-like).", examples=["ops@example.com"]),
        "created_at": timestamp("When the client was created."),
        "expires_at": timestamp("Expiry; null: never expires.", null=True),
        "revoked_at": timestamp("When the client was revoked, if it was.", null=True),
        "state": string("Whether the credentials work now.", enum=list(CLIENT_STATES)),
    }
    schemas: dict[str, Schema] = {
        "Client": obj(client, ("client_id", "created_at", "state")),
        "ClientCreated": obj(
            {**client, "client_secret": string("The secret: shown once, only now.")},
            ("client_id", "client_secret", "created_at", "state"),
        ),
        "ClientSecret": obj(
            {
                "client_id": string("The client id."),
                "client_secret": string("The new secret: shown once, only now."),
            },
            ("client_id", "client_secret"),
        ),
        "ClientList": obj({"data": array(ref("Client"), "API clients.")}, ("data",)),
        "Instance": obj(
            {
                "number": integer("Instance number.", minimum=1),
                "backend": string("Telegram backend.", enum=["telethon", "sandbox"]),
                "status": string(
                    "Login and connection state, and the account's condition: flood_wait,"
                    " restricted (PEER_FLOOD), frozen, banned, deactivated (deleted), revoked.",
                    enum=list(INSTANCE_STATUSES),
                ),
                "status_detail": nullable(string("More about the state, for a human.")),
                "paused_until": timestamp(
                    "End of a pause (flood wait, restriction, frozen account).", null=True
                ),
                "status_since": timestamp("When the instance entered this status.", null=True),
                "session_state": nullable(
                    string(
                        "The Telegram session's state in the process that holds it: logged_out,"
                        " connecting, ready, logging_out, revoked, banned, deactivated (null for"
                        " sandbox instances and on a process that does not hold the session)."
                    )
                ),
                "phone": nullable(string("The account's phone number.")),
                "user_id": nullable(integer("The account's Telegram user id.")),
                "profile": {
                    "type": ["object", "null"],
                    "description": "The profile tgw last set (else the configured one).",
                    "properties": {
                        "first_name": nullable(string("First name.")),
                        "last_name": nullable(string("Last name.")),
                        "about": nullable(string("Bio.")),
                        "photo_url": nullable(
                            string("The current picture (GET, admin token), if tgw set one.")
                        ),
                    },
                },
                "session_owner": nullable(
                    string(
                        "Which gateway process has the session open (one at a time).",
                        enum=["this process", "another process"],
                    )
                ),
                "queue": obj(
                    {s: integer(f"Messages {s}.", minimum=0) for s in MESSAGE_STATUSES},
                    tuple(MESSAGE_STATUSES),
                    "Messages of this instance by status.",
                ),
                "login_alerts": array(
                    {
                        **ref("LoginAlert"),
                        "description": "With the event's `id` and `received_at`.",
                    },
                    "The latest logins from other devices (account.login_alert), newest first.",
                ),
            },
            ("number", "backend", "status", "queue"),
        ),
        "InstanceList": obj({"data": array(ref("Instance"), "Instances.")}, ("data",)),
        "SandboxSent": obj(
            {
                "message_id": integer("Telegram message id."),
                "number": nullable(string("Recipient number.")),
                "group_name": nullable(string("Group, for a group message.")),
                "kind": string("What was sent."),
                "text": nullable(string("Text.")),
                "caption": nullable(string("Caption.")),
                "filename": nullable(string("File name.")),
                "mime_type": nullable(string("Media type.")),
                "size": nullable(integer("Bytes.")),
                "sha256": nullable(string("SHA-256, hex.")),
                "random_id": nullable(integer("Telegram random_id (deduplication).")),
                "reply_to": nullable(integer("Message id answered.")),
                "sent_at": timestamp("When it was sent."),
            },
            ("message_id", "kind", "sent_at"),
        ),
    }
    return schemas


# --- paths ------------------------------------------------------------------------------------


def _admin_paths() -> dict[str, Any]:
    client_id = param("client_id", "path", string("Client id."), "The client id.")
    expires = {
        "expires_at": nullable(
            string(
                "ISO 8601 date or date-time in the future (UTC when no offset); null or absent: "
                "never expires.",
                examples=["2027-01-01"],
            )
        )
    }
    n = param(
        "n",
        "path",
        integer("Instance.", minimum=1, maximum=INSTANCE_NUMBER_MAX),
        "Instance number.",
    )
    sandbox_errors = errors("Admin", 400, 401, 471) | errors(
        "Admin", 404, e404="Unknown instance, or not a sandbox instance."
    )
    person = closed(
        obj(
            {
                "number": _number("the sender"),
                "first_name": string("First name.", maxLength=255),
                "last_name": string("Last name.", maxLength=255),
                "username": string("Telegram @username, without '@'.", maxLength=64),
                "phone_visible": boolean(
                    "Whether the number is visible to the gateway.", default=True
                ),
                "is_bot": boolean("Whether the sender is a bot.", default=False),
            },
            ("number",),
            "The person writing.",
        )
    )

    def action(verb: str, summary: str, description: str, answer: Schema) -> Schema:
        request_body = None
        answers: dict[str, Any] = {"200": ok("Done.", answer)}
        if verb == "renew":
            request_body = body(
                closed(obj(expires)),
                "The new expiry; {} (no expires_at) means it never expires.",
            )
            answers |= errors("Admin", 400)
        answers |= errors("Admin", 401, 404)
        return operation(
            f"{verb}Client",
            TAG_CLIENTS,
            summary,
            description,
            answers,
            security=ADMIN_AUTH,
            parameters=[client_id],
            request_body=request_body,
        )

    return {
        "/admin/clients": {
            "post": operation(
                "createClient",
                TAG_CLIENTS,
                "Create an API client",
                "The secret is in this answer only: it is stored as a hash.",
                {
                    "201": ok("Created.", ref("ClientCreated")),
                    **errors("Admin", 400, 401, 409),
                },
                security=ADMIN_AUTH,
                request_body=body(
                    closed(
                        obj(
                            {
                                "client_id": string(
                                    "An e-mail-like id.",
                                    maxLength=254,
                                    examples=["ops@example.com"],
                                ),
                                **expires,
                            },
                            ("client_id",),
                        )
                    ),
                    "The new client.",
                ),
            ),
            "get": operation(
                "listClients",
                TAG_CLIENTS,
                "List API clients",
                "Every client with its state; never the secrets.",
                {"200": ok("Clients.", ref("ClientList")), **errors("Admin", 401)},
                security=ADMIN_AUTH,
            ),
        },
        "/admin/clients/{client_id}/renew": {
            "post": action(
                "renew",
                "Renew a client",
                "Set a new expiry; the client id and secret stay the same (un-revokes too).",
                ref("Client"),
            )
        },
        "/admin/clients/{client_id}/rotate": {
            "post": action(
                "rotate",
                "Rotate a client's secret",
                "A new secret replaces the old one at once.",
                ref("ClientSecret"),
            )
        },
        "/admin/clients/{client_id}/revoke": {
            "post": action(
                "revoke", "Revoke a client", "The credentials stop working.", ref("Client")
            )
        },
        "/admin/instances": {
            "get": operation(
                "listInstances",
                TAG_INSTANCES,
                "List instances",
                "Every gateway instance with its state and queue.",
                {"200": ok("Instances.", ref("InstanceList")), **errors("Admin", 401)},
                security=ADMIN_AUTH,
            )
        },
        "/admin/instances/{n}": {
            "get": operation(
                "getInstance",
                TAG_INSTANCES,
                "Get an instance",
                "One instance with its state and queue.",
                {
                    "200": ok("The instance.", ref("Instance")),
                    **errors("Admin", 401, 404, e404="No such instance."),
                },
                security=ADMIN_AUTH,
                parameters=[n],
            )
        },
        "/admin/sandbox/{n}/inbound": {
            "post": operation(
                "sandboxInbound",
                TAG_SANDBOX,
                "A person writes to the gateway",
                "Simulate an incoming text, shared contact or medium; answers once the gateway "
                "has handled it (or after 5 s).",
                {
                    "200": ok(
                        "Delivered to the gateway.",
                        obj(
                            {
                                "message_id": integer("Telegram message id."),
                                "handled": boolean("Whether the gateway handled it in time."),
                            },
                            ("message_id", "handled"),
                        ),
                    ),
                    **sandbox_errors,
                },
                security=ADMIN_AUTH,
                parameters=[n],
                request_body=body(
                    {
                        **obj(
                            {
                                "from": person,
                                "text": string("Text written."),
                                "contact": closed(
                                    obj(
                                        {
                                            "number": string(
                                                "Shared phone number (digits).", maxLength=21
                                            ),
                                            "user_id": integer(
                                                "Its Telegram user id.",
                                                minimum=1,
                                                maximum=2**63 - 1,
                                            ),
                                        },
                                        ("number",),
                                        "A shared contact.",
                                    )
                                ),
                                "media": closed(
                                    obj(
                                        {
                                            "kind": string("Kind.", enum=list(MEDIA_KINDS)),
                                            "base64": base64_field("The file."),
                                            "filename": string("File name.", maxLength=255),
                                            "mime_type": string("Media type.", maxLength=127),
                                        },
                                        ("kind", "base64"),
                                        "A medium.",
                                    )
                                ),
                                "reply_to": integer(
                                    "Telegram message id answered.",
                                    minimum=1,
                                    maximum=2**31 - 1,
                                ),
                            },
                            ("from",),
                            "Give text, contact or media.",
                        ),
                        "additionalProperties": False,
                        "anyOf": [
                            {"required": ["text"]},
                            {"required": ["contact"]},
                            {"required": ["media"]},
                        ],
                    },
                    "What the person sends.",
                ),
            )
        },
        "/admin/sandbox/{n}/sent": {
            "get": operation(
                "sandboxSent",
                TAG_SANDBOX,
                "What the gateway sent",
                "Messages the sandbox account sent, oldest first.",
                {
                    "200": ok(
                        "Sent messages.",
                        obj({"data": array(ref("SandboxSent"), "Messages.")}, ("data",)),
                    ),
                    **sandbox_errors,
                },
                security=ADMIN_AUTH,
                parameters=[n, param("number", "query", _number(), "Only to this number.")],
            )
        },
        "/admin/sandbox/{n}/read": {
            "post": operation(
                "sandboxRead",
                TAG_SANDBOX,
                "A person reads messages",
                "Mark the gateway's messages to this person read up to max_message_id.",
                {
                    "200": ok(
                        "Read.",
                        obj(
                            {
                                "number": string("The number."),
                                "max_message_id": integer("Read up to here."),
                                "handled": boolean("Whether the gateway handled it in time."),
                            },
                            ("number", "max_message_id", "handled"),
                        ),
                    ),
                    **sandbox_errors,
                },
                security=ADMIN_AUTH,
                parameters=[n],
                request_body=body(
                    closed(
                        obj(
                            {
                                "number": _number("the reader"),
                                "max_message_id": integer(
                                    "Highest message id read.", minimum=0, maximum=2**31 - 1
                                ),
                            },
                            ("number", "max_message_id"),
                        )
                    ),
                    "Who read up to where.",
                ),
            )
        },
        "/admin/sandbox/{n}/groups": {
            "post": operation(
                "sandboxGroup",
                TAG_SANDBOX,
                "Create a group",
                "A group with the gateway account as a member, for /v3 group sends.",
                {
                    "200": ok(
                        "The group.",
                        obj(
                            {
                                "chat_id": integer("Telegram chat id."),
                                "group_name": string("Title."),
                                "group_admin": string("Creator's number."),
                            },
                            ("chat_id", "group_name", "group_admin"),
                        ),
                    ),
                    **sandbox_errors,
                },
                security=ADMIN_AUTH,
                parameters=[n],
                request_body=body(
                    closed(
                        obj(
                            {
                                **_group_fields(),
                                "members": array(
                                    _number("a member"), "Other members' numbers.", maxItems=10_000
                                ),
                            },
                            ("group_name", "group_admin"),
                        )
                    ),
                    "The group.",
                ),
            )
        },
        "/admin/sandbox/{n}/faults": {
            "post": operation(
                "sandboxFault",
                TAG_SANDBOX,
                "Inject a send fault",
                "The next sends (to one number, or any) fail with this error or flood wait.",
                {
                    "201": ok(
                        "Armed.",
                        obj({"id": integer("Fault id.")}, ("id",)),
                    ),
                    **sandbox_errors,
                },
                security=ADMIN_AUTH,
                parameters=[n],
                request_body=body(
                    {
                        **obj(
                            {
                                "flood_wait_s": integer(
                                    "A FloodWait of this many seconds.",
                                    minimum=0,
                                    maximum=2**31 - 1,
                                ),
                                "error": string("A Telegram error.", enum=list(FAULT_ERRORS)),
                                "number": _number("only sends to this number"),
                                "times": integer(
                                    "How many sends fail.",
                                    minimum=1,
                                    maximum=2**31 - 1,
                                    default=1,
                                ),
                            },
                            (),
                            "Give flood_wait_s or error.",
                        ),
                        "additionalProperties": False,
                        "anyOf": [{"required": ["flood_wait_s"]}, {"required": ["error"]}],
                    },
                    "The fault.",
                ),
            )
        },
    }


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
                **_admin_paths(),
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
