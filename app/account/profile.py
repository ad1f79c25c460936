"""The account's profile: name, bio and picture, from the admin API, the CLI or the config.

The picture is checked and re-encoded with Pillow (JPEG or PNG in, JPEG out, at most 1280 px a
side: what Telegram keeps anyway), sent to Telegram replacing the previous one, and kept in the
database so the admin view can show it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.errors import ApiError
from app.models import InstanceProfile, MediaBlob
from app.settings import ProfileSettings
from app.telegram.port import NotLoggedIn, TelegramBackend, TelegramError

MAX_PHOTO_SIDE = 1280
MAX_PHOTO_INPUT_BYTES = 10 * 1024 * 1024
# Telegram's limits for a (non-premium) user account.
MAX_NAME_CHARS = 64
MAX_ABOUT_CHARS = 70


@dataclass(frozen=True)
class Photo:
    jpeg: bytes
    width: int
    height: int


def prepare_photo(data: bytes) -> Photo:
    """A JPEG of at most 1280 px a side from JPEG or PNG bytes; ApiError otherwise."""
    if not data:
        raise ApiError("invalid_image", "The body is empty: send the JPEG or PNG bytes")
    if len(data) > MAX_PHOTO_INPUT_BYTES:
        raise ApiError("payload_too_large", "A profile picture may be at most 10 MiB")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG"):
                raise ApiError(
                    "invalid_image", f"A profile picture must be JPEG or PNG, not {image.format}"
                )
            image.load()
            picture = ImageOps.exif_transpose(image) or image
            if picture.mode != "RGB":
                background = Image.new("RGB", picture.size, (255, 255, 255))
                rgba = picture.convert("RGBA")
                background.paste(rgba, mask=rgba.getchannel("A"))
                picture = background
            picture.thumbnail((MAX_PHOTO_SIDE, MAX_PHOTO_SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            picture.save(out, format="JPEG", quality=90, optimize=True)
            return Photo(out.getvalue(), picture.width, picture.height)
    except UnidentifiedImageError as exc:
        raise ApiError("invalid_image", "Not a JPEG or PNG image (the bytes are not one)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ApiError("invalid_image", f"The image is damaged and cannot be read: {exc}") from exc
    except Image.DecompressionBombError as exc:
        raise ApiError("invalid_image", "The image is too large to decode") from exc


def check_names(first_name: str, last_name: str | None, about: str | None) -> None:
    if not first_name.strip():
        raise ApiError("invalid_field", "first_name must not be empty")
    for name, value, limit in (
        ("first_name", first_name, MAX_NAME_CHARS),
        ("last_name", last_name, MAX_NAME_CHARS),
        ("about", about, MAX_ABOUT_CHARS),
    ):
        if value is not None and len(value) > limit:
            raise ApiError("invalid_field", f"{name} may have at most {limit} characters")


def _telegram_failure(exc: TelegramError) -> ApiError:
    if isinstance(exc, NotLoggedIn):
        return ApiError("not_logged_in", str(exc))
    return ApiError("unavailable", f"Telegram did not take the change: {exc}")


def _read_file(path: str) -> bytes:
    return Path(path).expanduser().read_bytes()


def config_fingerprint(profile: ProfileSettings) -> str | None:
    """What [instances.profile] asks for, as a short hash (None: it asks for nothing)."""
    if not any((profile.first_name, profile.last_name, profile.about, profile.photo)):
        return None
    digest = hashlib.sha256()
    for value in (profile.first_name, profile.last_name, profile.about):
        digest.update((value or "").encode() + b"\0")
    if profile.photo:
        digest.update(hashlib.sha256(Path(profile.photo).expanduser().read_bytes()).digest())
    return digest.hexdigest()


class Profiles:
    def __init__(
        self,
        backends: Mapping[int, TelegramBackend],
        database: Database,
        clock: Callable[[], datetime],
    ) -> None:
        self._backends = backends
        self._db = database
        self._clock = clock

    def _backend(self, number: int) -> TelegramBackend:
        backend = self._backends.get(number)
        if backend is None:
            raise ApiError("not_configured", f"instance {number} has no Telegram backend")
        return backend

    async def _row(self, session: AsyncSession, number: int) -> InstanceProfile:
        row = await session.get(InstanceProfile, number)
        if row is None:
            row = InstanceProfile(instance=number, updated_at=self._clock())
            session.add(row)
        return row

    async def set_names(
        self, number: int, first_name: str, last_name: str | None, about: str | None
    ) -> dict[str, str | None]:
        check_names(first_name, last_name, about)
        try:
            await self._backend(number).set_profile(first_name, last_name, about)
        except TelegramError as exc:
            raise _telegram_failure(exc) from exc
        async with self._db.write() as session:
            row = await self._row(session, number)
            row.first_name, row.last_name, row.about = first_name, last_name, about
            row.updated_at = self._clock()
        return {"first_name": first_name, "last_name": last_name, "about": about}

    async def set_photo(self, number: int, data: bytes) -> Photo:
        photo = prepare_photo(data)
        try:
            await self._backend(number).set_photo(photo.jpeg)
        except TelegramError as exc:
            raise _telegram_failure(exc) from exc
        sha = hashlib.sha256(photo.jpeg).hexdigest()
        async with self._db.write() as session:
            row = await self._row(session, number)
            old = row.photo_media_id
            media_id = f"profile-{number}-{sha[:24]}"
            if await session.get(MediaBlob, media_id) is None:
                session.add(
                    MediaBlob(
                        id=media_id,
                        sha256=sha,
                        size=len(photo.jpeg),
                        mime_type="image/jpeg",
                        data=photo.jpeg,
                        created_at=self._clock(),
                    )
                )
                await session.flush()
            row.photo_media_id = media_id
            row.photo_width, row.photo_height = photo.width, photo.height
            row.updated_at = self._clock()
            await session.flush()
            if old is not None and old != media_id:
                previous = await session.get(MediaBlob, old)
                if previous is not None:
                    await session.delete(previous)
        return photo

    async def view(self, number: int, fallback: ProfileSettings | None) -> dict[str, object]:
        async with self._db.read() as session:
            row = await session.get(InstanceProfile, number)
        if row is None:
            return {
                "first_name": fallback.first_name if fallback else None,
                "last_name": fallback.last_name if fallback else None,
                "about": fallback.about if fallback else None,
                "photo_url": None,
            }
        return {
            "first_name": row.first_name,
            "last_name": row.last_name,
            "about": row.about,
            "photo_url": (
                f"/admin/instances/{number}/profile/photo?v={row.photo_media_id[-8:]}"
                if row.photo_media_id
                else None
            ),
            "photo_width": row.photo_width,
            "photo_height": row.photo_height,
        }

    async def photo(self, number: int) -> bytes | None:
        async with self._db.read() as session:
            row = await session.get(InstanceProfile, number)
            if row is None or row.photo_media_id is None:
                return None
            blob = await session.get(MediaBlob, row.photo_media_id)
        return blob.data if blob is not None else None

    async def apply_config(self, number: int, profile: ProfileSettings) -> bool:
        """Apply [instances.profile] when it changed since it was last applied. True if done."""
        fingerprint = config_fingerprint(profile)
        if fingerprint is None:
            return False
        async with self._db.read() as session:
            row = await session.get(InstanceProfile, number)
        if row is not None and row.applied_config == fingerprint:
            return False
        backend = self._backend(number)
        if await backend.me() is None:
            return False  # applied once the number is logged in (next start)
        if profile.first_name or profile.last_name or profile.about:
            current = await backend.get_profile()
            first = profile.first_name or (current.first_name if current else None) or ""
            await self.set_names(
                number,
                first,
                profile.last_name if profile.last_name is not None else None,
                profile.about,
            )
        if profile.photo:
            data = await asyncio.to_thread(_read_file, profile.photo)
            await self.set_photo(number, data)
        async with self._db.write() as session:
            row = await self._row(session, number)
            row.applied_config = fingerprint
            row.updated_at = self._clock()
        return True
