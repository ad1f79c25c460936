"""How the send surfaces document a message's callback URL (outbound/callback_url.py): the
body field, the X-Callback-URL header, and the field of the message resource."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.net.targets import MAX_URL_CHARS
from app.routes.apidoc import IdempotencyHeader, Omitted, Timestamp
from app.routes.views import View

CALLBACK_URL = (
    "Where this message's status events (message.sent, message.read, message.failed, and "
    "message.edited, message.deleted, message.reaction about it) are POSTed as well, signed "
    "with this API client's callback secret (Standard Webhooks), with the retries of webhooks. "
    "http(s); a private or loopback address is refused (invalid_callback_url) unless "
    "[webhook_delivery] allow_private_targets. The X-Callback-URL header does the same."
)
SHOWN = "Where its status events are POSTed as well (callback_url of the send); null: nowhere."


def callback_url_field() -> Any:
    """The body field (`callback_url: str | Omitted = callback_url_field()`)."""
    return Field(
        None,
        min_length=1,
        max_length=MAX_URL_CHARS,
        description=CALLBACK_URL,
        json_schema_extra={"format": "uri"},
    )


class SendHeaders(IdempotencyHeader):
    callback_url: str | Omitted = Field(
        None,
        alias="X-Callback-URL",
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="The callback URL, as the body's callback_url (the same value if both). "
        + CALLBACK_URL.split(". The X-Callback-URL")[0]
        + ".",
    )


class CallbackSecretView(View):
    """An API client's callback signing secret."""

    client_id: str = Field(description="The client id.")
    secret: str = Field(
        description="Signs the client's callbacks (Standard Webhooks): 'whsec_' + base64.",
        json_schema_extra={"pattern": "^whsec_"},
    )
    previous_secret_until: Timestamp | None = Field(
        description="After a rotation: until when the old secret signs too (null: it does not)."
    )
