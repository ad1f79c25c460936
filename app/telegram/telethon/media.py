"""The input media of the native kinds: a location or venue, a contact card, and the document
attributes that make a file a video (with a player) or a sticker."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from telethon.tl import types

from app.telegram import port


def location_media(location: port.Location) -> Any:
    """A venue when the location has a title (Telegram shows its name and address), else a
    plain point."""
    point = types.InputGeoPoint(lat=location.latitude, long=location.longitude)
    if location.title is None:
        return types.InputMediaGeoPoint(geo_point=point)
    return types.InputMediaVenue(
        geo_point=point,
        title=location.title,
        address=location.address or "",
        provider="",
        venue_id="",
        venue_type="",
    )


def contact_media(contact: port.ContactCard) -> Any:
    return types.InputMediaContact(
        phone_number=contact.phone,
        first_name=contact.first_name,
        last_name=contact.last_name or "",
        vcard="",
    )


def document_media(uploaded: Any, media: port.OutgoingMedia) -> Any:
    """An uploaded video or sticker, with the attributes Telegram shows it by."""
    name = types.DocumentAttributeFilename(file_name=media.filename)
    if media.kind == "sticker":
        width, height = _picture_size(media.data)
        attributes: list[Any] = [
            types.DocumentAttributeSticker(alt="", stickerset=types.InputStickerSetEmpty()),
            types.DocumentAttributeImageSize(w=width, h=height),
            name,
        ]
        return types.InputMediaUploadedDocument(
            file=uploaded, mime_type="image/webp", attributes=attributes
        )
    video = media.video or port.VideoInfo(duration_s=0.0, width=0, height=0)
    attributes = [
        types.DocumentAttributeVideo(
            duration=video.duration_s,
            w=video.width,
            h=video.height,
            supports_streaming=True,
        ),
        name,
    ]
    return types.InputMediaUploadedDocument(
        file=uploaded, mime_type=media.mime_type, attributes=attributes
    )


def _picture_size(data: bytes) -> tuple[int, int]:
    """Width and height of a sticker (checked to decode when it was accepted)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # accepted before: cannot happen, but a size is only a hint
        return 512, 512
    return int(width), int(height)
