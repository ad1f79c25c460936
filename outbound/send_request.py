"""What an accepted send is made of: the validated request, the caller's credentials, and the
shape of the answer; the refusals every surface words the same way."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.errors import ApiError
from app.telegram.port import ContactCard, Location
from outbound.validation import CheckedMedia


@dataclass(frozen=True)
class SendRequest:
    """A validated request; only the checks that need the database remain."""

    instance: int
    kind: str
    to_number: str | None = None
    group_name: str | None = None
    group_admin: str | None = None
    text: str | None = None
    media: CheckedMedia | None = None
    caption: str | None = None
    reply_to: str | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    # No notification sound; Telegram's preview of a text's first link.
    silent: bool = False
    link_preview: bool = True
    # The send's own expiry (outbound/expiry.py); None: message_ttl_s alone.
    expires_at: datetime | None = None
    # Where this message's status events go as well (checked: outbound/callback_url.py).
    callback_url: str | None = None


@dataclass(frozen=True)
class Credentials:
    client_id: str | None
    secret: str | None
    idempotency_key: str | None


def request_fingerprint(path: str, body: bytes) -> str:
    return hashlib.sha256(path.encode() + b"\0" + body).hexdigest()


Renderer = Callable[[Mapping[str, Any]], tuple[int, dict[str, Any]]]
# The answer to a request of several messages, from their rows in the order they were given.
ManyRenderer = Callable[[Sequence[Mapping[str, Any]]], tuple[int, dict[str, Any]]]
Answer = tuple[int, dict[str, Any]]


def check_idempotency_key(key: str) -> None:
    if len(key) > 255 or not key.isprintable():
        raise ApiError("invalid_field", "Idempotency-Key must be at most 255 printable characters")


def not_registered(number: str) -> ApiError:
    return ApiError(
        "recipient_not_registered",
        f"Destination number {number} has not registered with the gateway (or opted "
        "out): ask them to add the gateway's number to their contacts and say Hi",
    )
