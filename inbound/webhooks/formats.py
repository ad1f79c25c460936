"""The body shapes an endpoint can ask for (its `format`).

- `standard`: the event as `GET /api/v1/events` shows it (app/events.py `render_stored`).
- `whatsmate`: the flat body of the hosted WhatsMate gateway's inbound webhook, for receivers
  written against it: `{"token", "type", "instance_id", "gateway_number", "number",
  "message"}`. Only `message.received` has that shape, so a whatsmate endpoint gets nothing
  else (and a receiver that answers every POST by writing to `number` cannot loop on our own
  `message.sent`).

Pure functions: the delivery worker renders with them at attempt time.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.vocabulary import EventType

STANDARD = "standard"
WHATSMATE = "whatsmate"
FORMATS = (STANDARD, WHATSMATE)
# What a whatsmate endpoint receives, whatever else its `events` might say.
WHATSMATE_EVENTS = (EventType.MESSAGE_RECEIVED,)


class FormatError(ValueError):
    """A format, or a format and event filter, that cannot go together."""


def check_format(value: object) -> str:
    if not isinstance(value, str) or value not in FORMATS:
        raise FormatError(f"'format' must be one of {', '.join(FORMATS)} (got {value!r})")
    return value


def check_events_for(format_: str, events: list[str] | None) -> None:
    """A whatsmate endpoint takes `events` null or ["message.received"]: anything else would
    promise deliveries it never gets (refused rather than silently ignored)."""
    if format_ != WHATSMATE or events is None or list(events) == list(WHATSMATE_EVENTS):
        return
    raise FormatError(
        "a whatsmate endpoint receives message.received only: set 'events' to null or "
        f'["message.received"] (got {orjson.dumps(list(events)).decode()})'
    )


def subscribed(format_: str, events: list[str] | None) -> set[str] | None:
    """The event types an endpoint gets a delivery for; None: every type."""
    if format_ == WHATSMATE:
        return set(WHATSMATE_EVENTS)
    return set(events) if events is not None else None


def whatsmate_type(data: dict[str, Any]) -> str:
    """WhatsMate's chat `type`: "group" for a message written in a group (`data.group`; the
    older `group_name` shape too), else "individual"."""
    return "group" if data.get("group") or data.get("group_name") else "individual"


def whatsmate_body(*, instance: int | None, payload: str, token: str | None) -> dict[str, Any]:
    """The WhatsMate body of a stored `message.received` (app/events.py keeps the sender as
    `top.number`, the text or caption as `top.message`)."""
    stored = orjson.loads(payload)
    top = stored.get("top", {})
    data = stored.get("data", {})
    return {
        "token": token,
        "type": whatsmate_type(data if isinstance(data, dict) else {}),
        # WhatsMate sends the instance as a string.
        "instance_id": str(instance) if instance is not None else None,
        "gateway_number": top.get("gateway_number"),
        "number": top.get("number"),
        "message": top.get("message") or _pin(data) or "",
    }


def _pin(data: object) -> str | None:
    """A shared location as WhatsMate's flat body can carry it: "📍 <lat>,<long>" (and the
    venue's title), since its `message` is the only field a receiver reads."""
    location = data.get("location") if isinstance(data, dict) else None
    if not isinstance(location, dict):
        return None
    pin = f"📍 {location.get('latitude')},{location.get('longitude')}"
    return f"{pin} {location['title']}" if location.get("title") else pin


def whatsmate_test_body(token: str | None) -> dict[str, Any]:
    """`POST /admin/webhooks/{id}/test` for a whatsmate endpoint: the token to check, and no
    `number`, so a receiver that answers every POST has no one to write to."""
    return {"token": token, "type": "webhook.test", "message": "A test event from tgw."}


TOKEN_MAX_CHARS = 256  # the same bound as [[webhooks]] token in app/settings/webhooks.py


def check_token(value: object) -> str | None:
    """A free string the receiver compares (WhatsMate's `token`); null: none."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FormatError("'token' must be a non-empty string, or null for none")
    if len(value) > TOKEN_MAX_CHARS:
        raise FormatError(f"'token' is longer than {TOKEN_MAX_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise FormatError("'token' must not hold control characters")
    return value
