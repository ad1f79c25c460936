"""People sending the kinds `FakeTelegram.person_sends` has no argument for: a video, a sticker,
a location and a venue, each a MessageMedia of its own pushed as UpdateNewMessage.

    geo = fake_point(40.4168, -3.7038)
    message_id = person_sends_media(fake, person, account, geo)
"""

from __future__ import annotations

from typing import Any

from telethon.tl import types

from .server import FakeTelegram
from .tl import make
from .world import FakeUser


def person_sends_media(fake: FakeTelegram, person: FakeUser, account: FakeUser, media: Any) -> int:
    """`person` sends `media` (a MessageMedia) to `account` in private, without text; the
    message id in the account's box."""
    box = fake.world.box(account)
    message, pts = fake.world.new_message(
        box, peer=types.PeerUser(person.user_id), from_id=None, out=False, text="", media=media
    )
    update = types.UpdateNewMessage(message, pts, 1)
    fake.push_to_account(account, fake.world.updates_for(box, [update]))
    return int(message.id)


def fake_video(fake: FakeTelegram, data: bytes, *, round_message: bool = False) -> Any:
    """An mp4 as Telegram gives a video (or a round video message) to download."""
    video = make(
        types.DocumentAttributeVideo,
        duration=2,
        w=320,
        h=240,
        round_message=round_message,
        supports_streaming=True,
    )
    attributes = [video, types.DocumentAttributeFilename(file_name="clip.mp4")]
    return fake.world.media_tl(fake.world.store_file(data, "document", "video/mp4", attributes))


def fake_sticker(fake: FakeTelegram, data: bytes) -> Any:
    """A WebP sticker as Telegram gives one: image attributes, no file name."""
    attributes = [
        make(types.DocumentAttributeImageSize, w=512, h=512),
        make(
            types.DocumentAttributeSticker,
            alt="👍",
            stickerset=types.InputStickerSetEmpty(),
        ),
    ]
    return fake.world.media_tl(fake.world.store_file(data, "document", "image/webp", attributes))


def fake_point(latitude: float, longitude: float) -> Any:
    """A plain location (MessageMediaGeo)."""
    return types.MessageMediaGeo(geo=_geo_point(latitude, longitude))


def fake_live_point(latitude: float, longitude: float) -> Any:
    """A live location's current point (MessageMediaGeoLive)."""
    return make(types.MessageMediaGeoLive, geo=_geo_point(latitude, longitude), period=900)


def fake_venue(latitude: float, longitude: float, title: str, address: str) -> Any:
    """A venue (MessageMediaVenue)."""
    return types.MessageMediaVenue(
        geo=_geo_point(latitude, longitude),
        title=title,
        address=address,
        provider="foursquare",
        venue_id="4b5a0f5cf964a520fab128e3",
        venue_type="",
    )


def _geo_point(latitude: float, longitude: float) -> Any:
    return make(types.GeoPoint, long=longitude, lat=latitude, access_hash=7)
