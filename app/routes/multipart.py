"""The native send's multipart upload: its fields and its one file, read within a size limit."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message as Message_

from app.errors import ApiError


async def read_multipart(
    request: Request, limit: int
) -> tuple[dict[str, Any], tuple[bytes, str | None] | None, str]:
    """Fields of a multipart upload: `file` is the medium; `media_kind`, `to`... are fields."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError("payload_too_large", f"the request body exceeds {limit} bytes")
    try:
        form = await bounded(request, limit).form(max_files=1, max_fields=20, max_part_size=limit)
    except ApiError:
        raise
    except Exception as exc:  # malformed multipart bodies raise several parser errors
        raise ApiError("bad_request", f"The multipart body could not be parsed: {exc}") from exc
    digest = hashlib.sha256(request.url.path.encode())
    data: dict[str, Any] = {}
    media: dict[str, Any] = {}
    upload: tuple[bytes, str | None] | None = None
    try:
        items = form.multi_items()
        for key, value in items:
            if isinstance(value, UploadFile):
                raw = await value.read()
                upload = (raw, value.filename)
                digest.update(b"file\0" + raw)
                continue
            digest.update(f"{key}\0{value}\0".encode())
            if key in ("kind", "media_kind"):
                media["kind"] = value
            elif key in ("filename", "caption"):
                media[key] = value
            else:
                data[key] = value
    finally:
        await form.close()  # uploads spool to temporary files
    if upload is not None or media:
        data["media"] = media
    return data, upload, digest.hexdigest()


def bounded(request: Request, limit: int) -> Request:
    """The same request, but reading past `limit` body bytes raises 413 at once.

    Starlette spools uploaded files to disk with no size limit of its own; this stops a chunked
    upload of any size as soon as it passes the limit, before it is read whole.
    """
    total = 0

    async def receive() -> Message_:
        nonlocal total
        message = await request.receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise ApiError(
                    "payload_too_large",
                    f"the request body exceeds the largest accepted size of {limit} bytes",
                )
        return message

    return Request(request.scope, receive)
