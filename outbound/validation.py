"""Pure validation of send requests: numbers, text, base64 media, file names."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import mimetypes
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import filetype
import phonenumbers

from app.errors import ApiError
from app.settings import TELEGRAM_CAPTION_UNITS, TELEGRAM_TEXT_UNITS, LimitsSettings
from app.telegram.port import MediaKind, VideoInfo
from outbound.content import check_image_decodes, check_sticker, document_mime
from outbound.video import probe_video

_SEPARATORS = re.compile(r"[\s\-().]")


def normalize_number(raw: object, field: str = "number") -> str:
    """Digits with country code, no '+': '+1 415-555-2671' -> '14155552671' (or 471)."""
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise ApiError("number_invalid", f"Destination number is invalid: {field} must be a string")
    return _normalize(str(raw), field)


@functools.lru_cache(maxsize=8192)
def _normalize(raw: str, field: str) -> str:
    """Cached: the same few numbers come again and again, and parsing is the costly part of
    accepting a send. Only valid numbers are cached (an exception is not)."""
    text = raw.strip()
    if text.startswith("+"):
        text = text[1:]
    digits = _SEPARATORS.sub("", text)
    if not digits:
        raise ApiError("number_invalid", f"Destination number is invalid: {field} is empty")
    if not digits.isascii() or not digits.isdigit():
        raise ApiError(
            "number_invalid",
            f"Destination number is invalid: {raw!r} must contain only digits "
            "with the country code, e.g. 14155552671",
        )
    if digits.startswith("00"):
        digits = digits[2:]
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise ApiError(
            "number_invalid", f"Destination number is invalid: {raw!r} ({exc._msg})"
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ApiError(
            "number_invalid",
            f"Destination number is invalid: {raw!r} is not a valid phone number; "
            "check that it includes the country code",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


def reject_nul(value: str, field: str) -> None:
    """U+0000 cannot be stored in PostgreSQL text columns: refuse it instead of failing later."""
    if "\x00" in value:
        raise ApiError("invalid_field", f"'{field}' contains a NUL character (U+0000)")


def is_message_id(value: str) -> bool:
    """Message ids are lowercase UUIDs; anything else cannot name a message."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def visible_length(text: str) -> int:
    """Characters as people count them, near enough: code points after NFC normalisation.

    An emoji is 1 (not the 2 UTF-16 units of an astral character), and a letter with a
    combining accent that NFC composes is 1. Grapheme clusters would be closer still, but
    need a library and tables for little gain.
    """
    return len(unicodedata.normalize("NFC", text))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_length(text: str, field: str, code: str, limit: int, telegram_units: int) -> None:
    # Telegram counts UTF-16 units: 4,096 code points of emoji are 8,192 units, which it
    # would refuse, so that is refused here at accept time, whatever the settings allow.
    length = visible_length(text)
    if length > limit:
        raise ApiError(code, f"'{field}' is {length} characters long; the limit is {limit}")
    units = utf16_units(text)
    if units > telegram_units:
        raise ApiError(
            code,
            f"'{field}' is {units} UTF-16 code units long ({length} characters); Telegram's "
            f"limit is {telegram_units} units (emoji and other astral characters count 2)",
        )


def check_text(text: object, limits: LimitsSettings, field: str = "message") -> str:
    if text is None:
        raise ApiError("missing_field", f"Missing field '{field}'")
    if not isinstance(text, str):
        raise ApiError("invalid_field", f"'{field}' must be a string")
    if not text.strip():
        raise ApiError("invalid_field", f"'{field}' is empty")
    reject_nul(text, field)
    _check_length(text, field, "text_too_long", limits.text_chars, TELEGRAM_TEXT_UNITS)
    return text


def check_caption(caption: object, limits: LimitsSettings) -> str | None:
    if caption is None or caption == "":
        return None
    if not isinstance(caption, str):
        raise ApiError("invalid_field", "'caption' must be a string")
    reject_nul(caption, "caption")
    _check_length(
        caption, "caption", "caption_too_long", limits.caption_chars, TELEGRAM_CAPTION_UNITS
    )
    return caption


# Removed from file names rather than refused (WhatsMate strips special characters): path
# separators, C0/C1 control characters, the characters Windows forbids, and the bidi controls
# that make "invoice\u202efdp.exe" display as "invoiceexe.pdf".
_STRIPPED_FILENAME_CHARS = re.compile(
    r'[/\\\x00-\x1f\x7f-\x9f<>:"|?*\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]'
)
_ONLY_EXTENSION = re.compile(r"\.[^.\s]+")
MAX_FILENAME_CHARS = 255


def sanitize_filename(filename: str) -> str:
    """The name with unsafe characters removed; '' when nothing usable is left.

    Leading dots and spaces go too (no hidden files, no '..' left over from a path); the
    extension is kept, and a name that was all extension ('<>.pdf') becomes 'file.pdf'.
    """
    name = _STRIPPED_FILENAME_CHARS.sub("", unicodedata.normalize("NFC", filename)).strip()
    if _ONLY_EXTENSION.fullmatch(name):
        name = "file" + name
    return name.lstrip(". ").rstrip()


def check_filename(filename: object, required: bool) -> str | None:
    if filename is None or filename == "":
        if required:
            raise ApiError("missing_field", "Missing field 'filename'")
        return None
    if not isinstance(filename, str):
        raise ApiError("invalid_filename", "'filename' must be a string")
    name = sanitize_filename(filename)
    if not name.strip("."):
        raise ApiError(
            "invalid_filename",
            f"'filename' {filename!r} is not a file name: nothing usable is left once path "
            'separators, control characters and <>:"|?* are removed',
        )
    if len(name) > MAX_FILENAME_CHARS:
        raise ApiError(
            "invalid_filename", f"'filename' must be 1 to {MAX_FILENAME_CHARS} characters long"
        )
    return name


def limit_for(kind: MediaKind, limits: LimitsSettings) -> int:
    if kind in ("image", "sticker"):
        return limits.image_bytes
    if kind == "document":
        return limits.document_bytes
    if kind == "video":
        return limits.video_bytes
    return limits.audio_bytes


def _human(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size} bytes"
    return f"{size / (1024 * 1024):.2f} MiB ({size} bytes)"


def base64_text(kind: MediaKind, value: object) -> str:
    """The base64 text of a medium before it is decoded: 470 when absent or empty."""
    if value is None or value == "":
        noun = "Image" if kind == "image" else "Document" if kind == "document" else "Media"
        state = "is missing" if value is None else "is present but empty"
        raise ApiError("media_missing", f"{noun} cannot be empty: field '{kind}' {state}")
    if not isinstance(value, str):
        raise ApiError("invalid_base64", f"'{kind}' must be a base64 string")
    return value


def decode_base64(kind: MediaKind, value: object, limits: LimitsSettings) -> bytes:
    """Standard base64 (padding and whitespace tolerated) -> bytes, with 470/400/413."""
    text = base64_text(kind, value)
    if text.startswith("data:") and "," in text[:200]:
        text = text.split(",", 1)[1]  # a data: URI prefix is a common slip; tolerate it
    text = "".join(text.split())
    limit = limit_for(kind, limits)
    # Refuse before decoding when even the shortest reading of the text is over the limit.
    if (len(text) // 4) * 3 - 2 > limit:
        raise ApiError(
            "payload_too_large",
            f"'{kind}' is about {_human(len(text) * 3 // 4)} decoded; the limit is {_human(limit)}",
        )
    text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError("invalid_base64", f"'{kind}' is not valid standard base64 ({exc})") from exc
    if not data:
        raise ApiError("media_missing", f"'{kind}' cannot be empty: it decodes to 0 bytes")
    if len(data) > limit:
        raise ApiError(
            "payload_too_large",
            f"'{kind}' is {_human(len(data))}; the limit is {_human(limit)}",
        )
    return data


IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
AUDIO_TYPES = {
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/x-wav": "wav",
    "audio/x-flac": "flac",
    "audio/mp4": "m4a",
    "audio/m4a": "m4a",
    "audio/aac": "aac",
    "video/mp4": "m4a",  # filetype calls some M4A files video/mp4 by their container brand
}
# A voice note in any of these is transcoded to OGG/Opus when accepted (outbound/audio.py).
VOICE_TYPES = AUDIO_TYPES
VIDEO_TYPES = {
    "video/mp4": "mp4",
    "video/x-m4v": "m4v",
    "video/quicktime": "mov",
    "video/webm": "webm",
}
STICKER_TYPES = {"image/webp": "webp"}
_ALLOWED: dict[MediaKind, dict[str, str]] = {
    "image": IMAGE_TYPES,
    "audio": AUDIO_TYPES,
    "voice_note": VOICE_TYPES,
    "video": VIDEO_TYPES,
    "sticker": STICKER_TYPES,
}
_WANTED: dict[MediaKind, str] = {
    "image": "a JPEG, PNG or WebP picture",
    "audio": "an MP3, M4A, OGG, WAV or FLAC file",
    "voice_note": "an OGG/Opus recording (or MP3, M4A, WAV, FLAC: made OGG/Opus)",
    "video": "an MP4, QuickTime (MOV) or WebM video",
    "sticker": "a WebP picture",
}
# Kinds whose file name is made up from their type when none is given.
NAMELESS_KINDS: tuple[MediaKind, ...] = ("image", "video", "sticker")


@dataclass(frozen=True)
class CheckedMedia:
    kind: MediaKind
    data: bytes
    mime_type: str
    filename: str
    sha256: str
    # {"duration_s", "waveform", "title", "performer"} of a voice note or audio file, filled in
    # by outbound/audio.py when the request is accepted (the message's details "audio").
    audio: Mapping[str, Any] | None = None
    # A video's duration and size (read with PyAV; zeros when they cannot be read).
    video: VideoInfo | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def sniff_mime(data: bytes) -> str | None:
    guess = filetype.guess(data[:8192])
    if guess is not None:
        return str(guess.mime)
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"  # MP3 without an ID3 tag: frame sync
    return None


def check_media(
    kind: MediaKind, data: bytes, filename: str | None, default_stem: str = "image"
) -> CheckedMedia:
    """Check that the bytes are what the kind says (sniffed, not trusted) and name them."""
    mime = sniff_mime(data)
    allowed = _ALLOWED.get(kind)
    if allowed is not None and mime not in allowed:
        what = mime or "an unrecognised format"
        raise ApiError(
            "media_type_mismatch", f"'{kind}' must be {_WANTED[kind]}, but the bytes are {what}"
        )
    video = None
    if kind == "image":
        check_image_decodes(data)
    elif kind == "sticker":
        check_sticker(data)
    elif kind == "video":
        video = probe_video(data)
    elif kind == "document" and filename is not None:
        mime = document_mime(filename, data, mime)
    if mime is None:
        guessed = mimetypes.guess_type(filename or "")[0]
        mime = guessed or "application/octet-stream"
    if filename is None:
        extension = (allowed or {}).get(mime) or mimetypes.guess_extension(mime) or "bin"
        stem = default_stem if kind not in ("video", "sticker") else kind
        filename = f"{stem}.{extension.lstrip('.')}"
    elif kind in NAMELESS_KINDS and allowed is not None:
        # Telegram decides photo vs file by the extension: make it match the bytes.
        stem = filename.rsplit(".", 1)[0] if "." in filename else filename
        filename = f"{stem}.{allowed[mime]}"
    return CheckedMedia(kind, data, mime, filename, hashlib.sha256(data).hexdigest(), video=video)
