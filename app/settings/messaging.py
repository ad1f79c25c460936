"""[limits], [sending] and [registration]: what a message may be, its pace, who may get one."""

from __future__ import annotations

from pydantic import Field, field_validator

from app.settings.base import MIB, _Section

DEFAULT_GREETINGS = [
    "Hi",
    "嗨",
    "你好",
    "安安",
    "こんにちは",
    "ハイ",
    "Ching",
    "Ciao",
    "Hai",
    "Hallo",
    "Hola",
    "Hoi",
    "Oi",
    "Salut",
    "Здравствуй",
    "Привіт",
    "नमस्ते",
    "היי",
    "مرحبا",
]


# Telegram's own limits, in UTF-16 code units (what its servers count).
TELEGRAM_TEXT_UNITS = 4096
TELEGRAM_CAPTION_UNITS = 1024


class LimitsSettings(_Section):
    messages_per_day: int = Field(default=2000, ge=0)
    max_recipients: int = Field(default=1000, ge=0)
    # Characters as people count them (code points after NFC). Telegram's own limits are
    # 4,096 and 1,024 UTF-16 code units, so larger settings could never be honoured.
    text_chars: int = Field(default=800, ge=1)
    caption_chars: int = Field(default=1024, ge=0)
    image_bytes: int = Field(default=2 * MIB, ge=1)
    document_bytes: int = Field(default=3 * MIB, ge=1)
    audio_bytes: int = Field(default=3 * MIB, ge=1)
    # Native API videos (media.kind "video"); stickers take image_bytes.
    video_bytes: int = Field(default=16 * MIB, ge=1)
    day_timezone: str = "UTC"

    @field_validator("text_chars")
    @classmethod
    def _within_telegram_text(cls, value: int) -> int:
        if value > TELEGRAM_TEXT_UNITS:
            raise ValueError(
                f"{value} is over Telegram's limit for a message text ({TELEGRAM_TEXT_UNITS} "
                "UTF-16 code units): such a text could never be sent"
            )
        return value

    @field_validator("caption_chars")
    @classmethod
    def _within_telegram_caption(cls, value: int) -> int:
        if value > TELEGRAM_CAPTION_UNITS:
            raise ValueError(
                f"{value} is over Telegram's limit for a caption ({TELEGRAM_CAPTION_UNITS} "
                "UTF-16 code units): such a caption could never be sent"
            )
        return value

    @field_validator("day_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def largest_media_bytes(self) -> int:
        """The largest file of the WhatsMate surfaces (image, document, audio)."""
        return max(self.image_bytes, self.document_bytes, self.audio_bytes)

    @property
    def largest_native_media_bytes(self) -> int:
        """The largest file the native API takes (videos too)."""
        return max(self.largest_media_bytes, self.video_bytes)


class SendingSettings(_Section):
    per_second: float = Field(default=5, ge=0)
    per_recipient_interval_s: float = Field(default=1, ge=0)
    message_ttl_s: int = Field(default=86400, ge=1)
    # Sandbox instances send unpaced unless this is true: there is no Telegram to protect.
    pace_sandbox: bool = False


class RegistrationSettings(_Section):
    greetings: list[str] = Field(default_factory=lambda: list(DEFAULT_GREETINGS))
    stop_words: list[str] | None = None  # None: the built-in list in every language
    # Per-language overrides of the built-in reply texts: {"en": {"registered": "..."}}.
    replies: dict[str, dict[str, str]] = Field(default_factory=dict)
