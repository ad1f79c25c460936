"""Sending: messages and media to a stored peer (never re-resolved), and finding a group by its
title and creator."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from telethon import functions, utils
from telethon.tl import types

from app.telegram import port
from app.telegram.telethon import limits
from app.telegram.telethon.chat_action import set_typing, showing
from app.telegram.telethon.core import BackendCore
from app.telegram.telethon.errors import to_port_error
from app.telegram.telethon.media import contact_media, document_media, location_media
from app.telegram.uploads import upload_action, upload_allowance_s


class SendingMixin(BackendCore):
    """TelethonBackend's sending calls."""

    async def send(self, message: port.OutgoingMessage) -> port.SentMessage:
        client = self._live_client()
        try:
            timeout_s = limits.CALL_TIMEOUT_S + upload_allowance_s(message.media)
            return await asyncio.wait_for(self._send(client, message), timeout_s)
        except Exception as exc:
            error = to_port_error(exc)
            if isinstance(error, port.SessionRevoked):
                async with self._lock:  # a transition: one at a time with the others
                    if self._client is client:
                        await self._revoked(error)
                        # The supervisor finds the key marked revoked and waits for a login.
                        await self._close_client()
            raise error from exc

    async def _send(self, client: Any, message: port.OutgoingMessage) -> port.SentMessage:
        peer = _input_peer(message.peer)
        reply_to = (
            types.InputReplyToMessage(reply_to_msg_id=message.reply_to_message_id)
            if message.reply_to_message_id
            else None
        )
        # Telegram's flags are absent (None) rather than False when off.
        silent = message.silent or None
        request: Any
        if message.media is None and message.location is None and message.contact is None:
            request = functions.messages.SendMessageRequest(
                peer=peer,
                message=message.text or "",
                random_id=message.random_id,
                reply_to=reply_to,
                no_webpage=not message.link_preview,
                silent=silent,
            )
            result = await client(request)
        else:
            # A large file takes a while: the person sees "sending a video..." meanwhile.
            async with showing(client, peer, upload_action(message.media)):
                request = functions.messages.SendMediaRequest(
                    peer=peer,
                    media=await self._input_media(client, message),
                    message=message.caption or "",
                    random_id=message.random_id,
                    reply_to=reply_to,
                    silent=silent,
                )
                result = await client(request)
        return _sent_message(result, message.random_id, self._clock)

    async def _input_media(self, client: Any, message: port.OutgoingMessage) -> Any:
        if message.location is not None:
            return location_media(message.location)
        if message.contact is not None:
            return contact_media(message.contact)
        assert message.media is not None
        return await self._upload(client, message.media)

    async def _upload(self, client: Any, media: port.OutgoingMedia) -> Any:
        uploaded = await client.upload_file(io.BytesIO(media.data), file_name=media.filename)
        if media.kind in ("video", "sticker"):
            return document_media(uploaded, media)
        if media.kind == "image" and media.mime_type in ("image/jpeg", "image/png"):
            return types.InputMediaUploadedPhoto(file=uploaded)
        attributes: list[Any] = [types.DocumentAttributeFilename(file_name=media.filename)]
        if media.kind in ("audio", "voice_note"):
            attributes.insert(0, _audio_attribute(media))
        return types.InputMediaUploadedDocument(
            file=uploaded,
            mime_type=media.mime_type,
            attributes=attributes,
            force_file=media.kind == "document",
        )

    async def show_action(self, peer: port.Peer, action: port.ChatAction | None) -> None:
        await self._plain_call(set_typing(_input_peer(peer), action))

    async def read_inbox(self, peer: port.Peer, max_message_id: int) -> None:
        request: Any
        if isinstance(peer, port.GroupPeer) and peer.is_channel:
            channel = types.InputChannel(channel_id=peer.chat_id, access_hash=peer.access_hash or 0)
            request = functions.channels.ReadHistoryRequest(channel=channel, max_id=max_message_id)
        else:
            request = functions.messages.ReadHistoryRequest(
                peer=_input_peer(peer), max_id=max_message_id
            )
        await self._plain_call(request)

    async def _plain_call(self, request: Any) -> Any:
        """One request to Telegram, its errors as the port's."""
        client = self._live_client()
        try:
            return await asyncio.wait_for(client(request), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_port_error(exc) from exc

    async def resolve_group(self, group_name: str, admin_number: str) -> port.GroupPeer:
        client = self._live_client()
        try:
            return await asyncio.wait_for(
                self._resolve_group(client, group_name, admin_number), limits.CALL_TIMEOUT_S
            )
        except port.TelegramError:
            raise
        except Exception as exc:
            raise to_port_error(exc) from exc

    async def _resolve_group(
        self, client: Any, group_name: str, admin_number: str
    ) -> port.GroupPeer:
        wanted = group_name.strip().casefold()
        # The account's chats are its dialogs (Telegram has no "all my groups" call any more).
        chats = [dialog.entity async for dialog in client.iter_dialogs(limit=None)]
        matches = [
            chat
            for chat in chats
            if isinstance(chat, types.Chat | types.Channel)
            and (chat.title or "").strip().casefold() == wanted
            and not getattr(chat, "left", False)
            and not getattr(chat, "deactivated", False)
            and (not isinstance(chat, types.Channel) or chat.megagroup)
        ]
        if not admin_number:  # a legacy v1 send names no creator: the title must be unique
            if len(matches) == 1:
                return _group_peer(matches[0])
            raise port.GroupNotFound(
                f"the account is in {len(matches) or 'no'} group(s) named {group_name!r}"
                + (": give group_admin" if matches else "")
            )
        admin_digits = "".join(ch for ch in admin_number if ch.isdigit())
        unknown: list[port.GroupPeer] = []
        for chat in matches:
            peer = _group_peer(chat)
            creator_phone = await self._creator_phone(client, chat)
            if creator_phone == admin_digits:
                return peer
            if creator_phone is None:
                unknown.append(peer)
        if len(unknown) == 1:
            return unknown[0]  # the creator's number is hidden; the title alone is unique
        raise port.GroupNotFound(
            f"the account is not in a group named {group_name!r} created by {admin_number}"
        )

    async def _creator_phone(self, client: Any, chat: Any) -> str | None:
        """The digits of the group creator's number; None when Telegram does not show it."""
        if isinstance(chat, types.Channel):
            if chat.creator and self._account is not None:
                return self._account.phone
            return None
        full = await client(functions.messages.GetFullChatRequest(chat_id=chat.id))
        participants = getattr(full.full_chat, "participants", None)
        creator_id = None
        for member in getattr(participants, "participants", None) or []:
            if isinstance(member, types.ChatParticipantCreator):
                creator_id = member.user_id
        for user in full.users:
            if user.id == creator_id and user.phone:
                return str(user.phone)
        return None


def _audio_attribute(media: port.OutgoingMedia) -> Any:
    """A voice bubble (duration and the packed 5-bit waveform) or a player (duration, title,
    performer); the bytes of a voice note are OGG/Opus already (outbound/audio.py)."""
    audio = media.audio or port.AudioInfo(duration_s=0)
    if media.kind == "voice_note":
        waveform = utils.encode_waveform(audio.waveform) if audio.waveform else None
        return types.DocumentAttributeAudio(
            duration=audio.duration_s, voice=True, waveform=waveform
        )
    return types.DocumentAttributeAudio(
        duration=audio.duration_s, title=audio.title, performer=audio.performer
    )


def _group_peer(chat: Any) -> port.GroupPeer:
    if isinstance(chat, types.Channel):
        return port.GroupPeer(chat.id, chat.access_hash, is_channel=True)
    return port.GroupPeer(chat.id)


def _input_peer(peer: port.Peer) -> Any:
    if isinstance(peer, port.UserPeer):
        return types.InputPeerUser(user_id=peer.user_id, access_hash=peer.access_hash or 0)
    if peer.is_channel:
        return types.InputPeerChannel(channel_id=peer.chat_id, access_hash=peer.access_hash or 0)
    return types.InputPeerChat(chat_id=peer.chat_id)


def _sent_message(result: Any, random_id: int, clock: Callable[[], datetime]) -> port.SentMessage:
    """The Telegram id of what was just sent (UpdateShortSentMessage or the paired updates)."""
    if isinstance(result, types.UpdateShortSentMessage):
        return port.SentMessage(int(result.id), result.date or clock())
    updates = list(getattr(result, "updates", None) or [])
    message_id = next(
        (
            u.id
            for u in updates
            if isinstance(u, types.UpdateMessageID) and u.random_id == random_id
        ),
        None,
    )
    date = getattr(result, "date", None)
    for update in updates:
        if not isinstance(update, types.UpdateNewMessage | types.UpdateNewChannelMessage):
            continue
        sent = update.message
        if (message_id is None and getattr(sent, "out", False)) or sent.id == message_id:
            message_id, date = sent.id, sent.date
            break
    if message_id is None:
        raise port.TransientError(f"Telegram did not say which message it created: {result!r}")
    return port.SentMessage(int(message_id), date or clock())
