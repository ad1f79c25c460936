"""How media by URL (`media.url` of POST /api/v1/messages, outbound/fetch.py) is documented:
the field and what the operation's 400 and 413 answers mean for it."""

from __future__ import annotations

from typing import Any

from app.errors import STATUS_BY_CODE

MEDIA_URL: dict[str, Any] = {
    "min_length": 1,
    "max_length": 2048,
    "description": "An http(s) URL the gateway fetches the file from before it answers; the "
    "message is accepted only once the file is here and checked like base64 media. Private, "
    "loopback and link-local addresses are refused (also after a redirect, and whatever the "
    "DNS answers when the gateway connects) unless [media_fetch] allow_private_targets; "
    "redirects up to [media_fetch] max_redirects, the whole fetch within [media_fetch] "
    "timeout_s; the size limits of base64 media apply while the file streams in.",
    "json_schema_extra": {"format": "uri"},
}


def codes_of(status: int) -> str:
    """The error codes answered with `status`, for an operation's error texts."""
    return ", ".join(sorted(code for code, s in STATUS_BY_CODE.items() if s == status))
