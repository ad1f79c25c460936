"""Shared pieces of the HTTP surface: JSON answers, bounded body reading, auth helpers."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from app import console_auth, json_encoding, lockout
from app.client_address import client_address
from app.errors import ApiError
from app.services import Services


class JSON(Response):
    """A JSON answer: a response model, or a dict, through the gateway's one encoder."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_encoding.dumps(content)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError as exc:
            raise ApiError("bad_request", "Content-Length is not a number") from exc
        if size > max_bytes:
            raise ApiError(
                "payload_too_large",
                f"the request body is {size} bytes; the largest accepted is {max_bytes} bytes",
            )
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_bytes:
                raise ApiError(
                    "payload_too_large",
                    f"the request body exceeds the largest accepted size of {max_bytes} bytes",
                )
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ApiError("bad_request", "the client disconnected before sending the body") from exc
    return b"".join(chunks)


UTF8_BOM = b"\xef\xbb\xbf"


def parse_json_object(body: bytes) -> dict[str, Any]:
    # Windows tools (PowerShell's Out-File, Notepad) start UTF-8 with a byte-order mark;
    # RFC 8259 lets a parser ignore it, and WhatsMate clients rely on that.
    body = body.removeprefix(UTF8_BOM)
    if not body.strip():
        raise ApiError("invalid_json", "No JSON data received: the request body is empty")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError("invalid_json", f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError("invalid_json", "The request body must be a JSON object")
    where = _find_nul(data, "")
    if where is not None:
        # PostgreSQL text cannot hold U+0000: refuse it up front rather than fail on insert.
        raise ApiError("invalid_field", f"'{where or 'body'}' contains a NUL character (U+0000)")
    return data


def _find_nul(value: Any, path: str) -> str | None:
    """The path of the first string (or key) holding U+0000, or None.

    Iterative: bodies may nest up to orjson's 1,024 levels, past Python's recursion limit.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return where
        elif isinstance(item, dict):
            for key, inner in item.items():
                inner_path = f"{where}.{key}" if where else str(key)
                if "\x00" in key:
                    return inner_path
                stack.append((inner, inner_path))
        elif isinstance(item, list):
            stack.extend((inner, f"{where}[{index}]") for index, inner in enumerate(item))
    return None


async def require_admin(request: Request) -> None:
    """The Bearer admin token, or a console session cookie (app/console_auth.py).

    A request that carries an Authorization header is judged by it alone. With the cookie,
    every request other than GET/HEAD must also carry the session's X-CSRF-Token (403 `csrf`).
    Wrong Bearer tokens count against the client's address like wrong console sign-ins
    (app/lockout.py): 429 once it has sent too many; the right token always passes.
    """
    svc = services(request)
    token = svc.admin_token
    header = request.headers.get("authorization", "")
    cookie = request.cookies.get(console_auth.SESSION_COOKIE)
    if not header and cookie:
        await console_auth.require_session(
            token,
            cookie,
            request.method,
            request.headers.get(console_auth.CSRF_HEADER),
            svc.clock(),
            svc.database.factory,
        )
        return
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        # No token at all is not a guess: nothing to count.
        raise ApiError("unauthorized", "Missing 'Authorization: Bearer <admin token>' header")
    lockout.check_admin_token(
        given.strip(),
        token,
        client_address(request, svc.settings.server),
        svc.clock(),
        lockout.admin_limiter(request.app.state),
    )


# Instance numbers are INTEGER columns: 32 bits on PostgreSQL (SQLite would take 64).
INSTANCE_MAX = 2**31 - 1
# ASCII digits only: str.isdigit() and int() also accept other scripts' digits ("١").
ASCII_INTEGER = re.compile(r"-?[0-9]{1,19}")


def ascii_int(raw: str, low: int, high: int) -> int | None:
    """`raw` as an integer in low..high, or None (not ASCII digits, or out of range)."""
    if not ASCII_INTEGER.fullmatch(raw):
        return None
    number = int(raw)
    return number if low <= number <= high else None


def instance_number(raw: str) -> int:
    """The `{instance}` / `{n}` path segment; unknown_instance (404) when it cannot be one,
    the same answer as for a number that is not configured."""
    number = ascii_int(raw, 1, INSTANCE_MAX)
    if number is None:
        raise ApiError("unknown_instance", f"Invalid gateway instance number {raw[:40]!r}")
    return number


def int_param(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A query integer; the admin side parses its queries with models instead
    (`bodies.parse_query`, the same messages)."""
    if value is None or value == "":
        return default
    if not ASCII_INTEGER.fullmatch(value.strip()):
        raise ApiError("invalid_field", f"'{name}' must be an integer")
    number = int(value)
    if not low <= number <= high:
        raise ApiError("invalid_field", f"'{name}' must be between {low} and {high}")
    return number
