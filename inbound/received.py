"""The `data` of message.received, and the person as events show them (`sender`); what an
inbound message's row keeps of its kind."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from app.telegram.port import IncomingMessage, Location
from app.timestamps import iso
from inbound.groups import group_data


def received_data(
    *,
    inbound_id: str,
    msg: IncomingMessage,
    number: str | None,
    media_id: str | None,
    received_at: datetime,
    reply_to_ours: str | None,
    mentioned: bool = False,
) -> dict[str, Any]:
    """The `data` of message.received; media as a description, never its bytes (the
    download link is added when the event is rendered: app/media_links.py)."""
    reply_to = None
    if msg.reply_to_message_id is not None:
        reply_to = {"telegram_message_id": msg.reply_to_message_id, "message_id": reply_to_ours}
    media = None
    if msg.media is not None:
        media = {
            "id": media_id,
            "kind": msg.media.kind,
            "filename": msg.media.filename,
            "mime_type": msg.media.mime_type,
            "size": len(msg.media.data),
            "sha256": hashlib.sha256(msg.media.data).hexdigest(),
        }
    s = msg.sender
    return {
        "id": inbound_id,
        "telegram_message_id": msg.message_id,
        "sender": {
            "user_id": s.user_id,
            "first_name": s.first_name,
            "last_name": s.last_name,
            "username": s.username,
            "number": number,
        },
        "text": msg.text or None,
        "reply_to": reply_to,
        "media": media,
        "received_at": iso(received_at),
        "location": location_data(msg.location),
        "group": group_data(msg.group),
        # In a group: it names the account or answers one of its messages.
        "mentioned": mentioned,
    }


def location_data(location: Location | None) -> dict[str, Any] | None:
    """A location as events show it: {"latitude", "longitude", "title", "address"} (title and
    address null unless it is a venue)."""
    return asdict(location) if location is not None else None


def stored_kind(msg: IncomingMessage) -> str | None:
    """inbound_message.media_kind: the medium's kind, or "contact" / "location", else null."""
    if msg.media is not None:
        return msg.media.kind
    if msg.contact is not None:
        return "contact"
    return "location" if msg.location is not None else None


def stored_location(msg: IncomingMessage) -> str | None:
    """inbound_message.location: the location as JSON text, else null."""
    found = location_data(msg.location)
    return orjson.dumps(found).decode() if found is not None else None
