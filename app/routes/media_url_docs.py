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


def _codes(status: int) -> str:
    return ", ".join(sorted(code for code, s in STATUS_BY_CODE.items() if s == status))


# The answers of createMessage that media by URL adds to the send errors.
MEDIA_URL_TEXTS = {
    400: "Malformed JSON, a missing field, a text or caption over its limit, a bad filename, "
    "undecodable base64, or media that is not of its kind. With media.url: a URL that is not "
    "http(s) (invalid_field), a private target (media_target_forbidden), a host that does not "
    "resolve or refuses the connection (media_unreachable), an origin that answers an error "
    "status, redirects too often or breaks off (media_origin_error), or a file that does not "
    f"arrive in time (media_fetch_timeout). Error codes: {_codes(400)}.",
    413: "Decoded media over its limit (image ${image_bytes}, document ${document_bytes}, audio "
    "and voice note ${audio_bytes}), a file at media.url over that limit (reading stops "
    "there), or a request body over ${largest_body} bytes, refused before it is read whole. "
    "Error codes: payload_too_large.",
}
