"""The account's own calls: its profile, its sessions (authorizations) and its standing with
@SpamBot."""

from __future__ import annotations

import asyncio
import io
import secrets
from typing import Any

from telethon import functions
from telethon.tl import types

from app.telegram import port
from app.telegram.spambot import SPAMBOT_USERNAME, START_COMMAND, classify
from app.telegram.telethon import limits
from app.telegram.telethon.core import BackendCore
from app.telegram.telethon.errors import RESET_AUTHORIZATION_ERRORS, to_port_error
from app.telegram.telethon.sending import _sent_message


class AccountMixin(BackendCore):
    """TelethonBackend's calls about the account itself."""

    async def get_profile(self) -> port.Profile | None:
        client = self._live_client()
        try:
            full = await asyncio.wait_for(
                client(functions.users.GetFullUserRequest(types.InputUserSelf())),
                limits.CALL_TIMEOUT_S,
            )
        except Exception as exc:
            raise to_port_error(exc) from exc
        me = next((u for u in full.users if getattr(u, "is_self", False)), None)
        me = me or (full.users[0] if full.users else None)
        return port.Profile(
            first_name=getattr(me, "first_name", None),
            last_name=getattr(me, "last_name", None),
            about=full.full_user.about,
        )

    async def set_profile(self, first_name: str, last_name: str | None, about: str | None) -> None:
        client = self._live_client()
        request = functions.account.UpdateProfileRequest(
            first_name=first_name, last_name=last_name or "", about=about or ""
        )
        try:
            await asyncio.wait_for(client(request), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_port_error(exc) from exc

    async def set_photo(self, jpeg: bytes) -> None:
        client = self._live_client()
        try:
            await asyncio.wait_for(self._replace_photo(client, jpeg), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_port_error(exc) from exc

    async def _replace_photo(self, client: Any, jpeg: bytes) -> None:
        uploaded = await client.upload_file(io.BytesIO(jpeg), file_name="profile.jpg")
        result = await client(functions.photos.UploadProfilePhotoRequest(file=uploaded))
        new_id = getattr(result.photo, "id", None)
        photos = await client(
            functions.photos.GetUserPhotosRequest(
                user_id=types.InputUserSelf(), offset=0, max_id=0, limit=100
            )
        )
        old = [
            types.InputPhoto(id=p.id, access_hash=p.access_hash, file_reference=p.file_reference)
            for p in photos.photos
            if isinstance(p, types.Photo) and p.id != new_id
        ]
        if old:  # the previous pictures go: the profile shows one, the company's
            await client(functions.photos.DeletePhotosRequest(id=old))

    # -- the account's sessions --

    async def list_authorizations(self) -> list[port.Authorization]:
        client = self._live_client()
        try:
            found = await asyncio.wait_for(
                client(functions.account.GetAuthorizationsRequest()), limits.CALL_TIMEOUT_S
            )
        except Exception as exc:
            raise to_port_error(exc) from exc
        return [_authorization_of(a) for a in found.authorizations]

    async def end_authorization(self, hash: int) -> None:
        # Checked here rather than left to Telegram: ending the gateway's own session from
        # this call would leave a session stored that no longer works.
        if any(a.current and a.hash == hash for a in await self.list_authorizations()):
            raise port.CurrentAuthorization("this is the gateway's own session: log out instead")
        client = self._live_client()
        request = functions.account.ResetAuthorizationRequest(hash=hash)
        try:
            ended = await asyncio.wait_for(client(request), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_port_error(exc, RESET_AUTHORIZATION_ERRORS) from exc
        if not ended:
            raise port.TransientError("Telegram answered that it did not end the session")

    # -- the account's standing: @SpamBot --

    # Class attributes, so a test may shorten them on one backend.
    spambot_wait_s = limits.SPAMBOT_WAIT_S
    spambot_poll_s = limits.SPAMBOT_POLL_S

    async def check_restrictions(self) -> port.SpamCheck:
        """Send @SpamBot "/start" and read its reply. The reply is looked for in the chat's
        history (messages.getHistory), not taken from the update handlers: those hand every
        incoming message to the pipeline, which never answers or forwards a bot's."""
        client = self._live_client()
        try:
            reply = await asyncio.wait_for(
                self._ask_spambot(client), self.spambot_wait_s + limits.CALL_TIMEOUT_S
            )
        except Exception as exc:
            raise to_port_error(exc) from exc
        return classify(reply)

    async def _ask_spambot(self, client: Any) -> str:
        resolved = await client(functions.contacts.ResolveUsernameRequest(SPAMBOT_USERNAME))
        bot_id = getattr(resolved.peer, "user_id", None)
        bot = next(
            (u for u in resolved.users if isinstance(u, types.User) and u.id == bot_id), None
        )
        if bot is None:
            raise port.TransientError(f"Telegram did not resolve @{SPAMBOT_USERNAME} to a user")
        peer = types.InputPeerUser(user_id=bot.id, access_hash=bot.access_hash or 0)
        random_id = secrets.randbits(63)
        request = functions.messages.SendMessageRequest(
            peer=peer, message=START_COMMAND, random_id=random_id, no_webpage=True
        )
        sent = _sent_message(await client(request), random_id, self._clock)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spambot_wait_s
        while True:
            history = await client(
                functions.messages.GetHistoryRequest(
                    peer=peer,
                    offset_id=0,
                    offset_date=None,
                    add_offset=0,
                    limit=limits.SPAMBOT_HISTORY,
                    max_id=0,
                    min_id=sent.message_id,
                    hash=0,
                )
            )
            replies = sorted(
                (
                    m
                    for m in history.messages
                    if isinstance(m, types.Message)
                    and not m.out
                    and m.id > sent.message_id
                    and m.message
                ),
                key=lambda m: m.id,
            )
            if replies:
                return "\n\n".join(m.message for m in replies)
            if loop.time() >= deadline:
                raise port.SpamBotSilent(
                    f"@{SPAMBOT_USERNAME} did not answer {START_COMMAND} within"
                    f" {self.spambot_wait_s:g} s: try again later"
                )
            await asyncio.sleep(self.spambot_poll_s)


def _authorization_of(raw: Any) -> port.Authorization:
    return port.Authorization(
        hash=int(raw.hash),
        current=bool(raw.current),
        device_model=raw.device_model or "",
        platform=raw.platform or "",
        system_version=raw.system_version or "",
        app_name=raw.app_name or "",
        app_version=raw.app_version or "",
        ip=raw.ip or "",
        country=raw.country or "",
        region=raw.region or "",
        date_created=raw.date_created,
        date_active=raw.date_active,
        official_app=bool(raw.official_app),
        password_pending=bool(raw.password_pending),
    )
