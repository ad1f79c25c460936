"""The `details` of a message row: what a kind carries beyond its text and file, as JSON.

Written when a send is accepted and read back when it is claimed (and shown by the message
resource). Keys: `location` {"latitude", "longitude", "title", "address"}, `contact`
{"phone", "first_name", "last_name"}, `video` {"duration_s", "width", "height"}, `audio`
{"duration_s", "waveform" (100 levels 0..31, or null), "title", "performer"} (outbound/audio.py
reads them from the file).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson

from app.telegram.port import AudioInfo, ContactCard, Location, VideoInfo
from outbound.send_request import SendRequest


def request_details(request: SendRequest) -> dict[str, Any]:
    """The details of an accepted request (empty: none)."""
    details: dict[str, Any] = {}
    if request.location is not None:
        details["location"] = asdict(request.location)
    if request.contact is not None:
        details["contact"] = asdict(request.contact)
    if request.media is not None and request.media.video is not None:
        details["video"] = asdict(request.media.video)
    if request.media is not None and request.media.audio is not None:
        details["audio"] = dict(request.media.audio)
    return details


def dump_details(details: dict[str, Any]) -> str | None:
    return orjson.dumps(details).decode() if details else None


def read_details(raw: str | None) -> dict[str, Any]:
    """The details column as a dict ({} when empty or not an object)."""
    if not raw:
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def location_of(details: dict[str, Any]) -> Location | None:
    found = details.get("location")
    return Location(**found) if isinstance(found, dict) else None


def contact_of(details: dict[str, Any]) -> ContactCard | None:
    found = details.get("contact")
    return ContactCard(**found) if isinstance(found, dict) else None


def video_of(details: dict[str, Any]) -> VideoInfo | None:
    found = details.get("video")
    return VideoInfo(**found) if isinstance(found, dict) else None


def audio_of(details: dict[str, Any]) -> AudioInfo | None:
    """The audio attributes of a voice note or audio file (Telegram's waveform bytes hold one
    0..31 level each; the Telethon backend packs them)."""
    audio = details.get("audio")
    if not isinstance(audio, dict):
        return None
    levels = audio.get("waveform")
    return AudioInfo(
        duration_s=int(audio.get("duration_s") or 0),
        waveform=bytes(levels) if levels else None,
        title=audio.get("title"),
        performer=audio.get("performer"),
    )
