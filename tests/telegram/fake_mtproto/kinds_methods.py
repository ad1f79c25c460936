"""The fake's side of the native kinds that carry no file (a location, a venue, a contact
card) and of chat actions: what messages.sendMedia and messages.setTyping take.

Videos and stickers are uploaded documents, which `Methods._media_file` already stores with
their attributes (DocumentAttributeVideo / DocumentAttributeSticker) for the test to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telethon.tl import types

from .tl import RpcFail, make
from .world import normalize_phone

if TYPE_CHECKING:
    from .methods import Call
    from .world import World


@dataclass(frozen=True)
class CardMedia:
    """A MessageMedia without a file, and what the SentRecord keeps of it."""

    media: Any
    record: dict[str, Any] = field(default_factory=dict)


def _record(kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "data": None,
        "filename": None,
        "mime_type": None,
        "attributes": [],
        "voice": False,
    }


def _geo(point: Any) -> Any:
    if not isinstance(point, types.InputGeoPoint):
        raise RpcFail("MEDIA_INVALID")
    if not -90 <= point.lat <= 90 or not -180 <= point.long <= 180:
        raise RpcFail("GEO_POINT_INVALID")
    return types.GeoPoint(long=point.long, lat=point.lat, access_hash=0)


def card_media(world: World, media: Any) -> CardMedia | None:
    """A location, venue or contact card as the recipient gets it; None for other media."""
    if isinstance(media, types.InputMediaGeoPoint):
        return CardMedia(make(types.MessageMediaGeo, geo=_geo(media.geo_point)), _record("geo"))
    if isinstance(media, types.InputMediaVenue):
        if not media.title:
            raise RpcFail("MEDIA_INVALID")
        venue = make(
            types.MessageMediaVenue,
            geo=_geo(media.geo_point),
            title=media.title,
            address=media.address,
            provider=media.provider,
            venue_id=media.venue_id,
            venue_type=media.venue_type,
        )
        return CardMedia(venue, _record("venue"))
    if isinstance(media, types.InputMediaContact):
        if not media.phone_number or not media.first_name:
            raise RpcFail("MEDIA_INVALID")
        user = world.by_phone.get(normalize_phone(media.phone_number))
        contact = make(
            types.MessageMediaContact,
            phone_number=media.phone_number,
            first_name=media.first_name,
            last_name=media.last_name,
            vcard=media.vcard,
            user_id=user.user_id if user is not None else 0,
        )
        return CardMedia(contact, _record("contact"))
    return None


def set_typing(call: Call, request: Any) -> Any:
    """messages.setTyping: the peer must be one the account can write to; the action is kept
    in the server's request log (`FakeTelegram.requests_of("SetTypingRequest")`)."""
    call.server.world.resolve_peer(request.peer, call.account)
    return True
