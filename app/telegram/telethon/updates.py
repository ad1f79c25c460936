"""Updates in: Telegram's updates as the port's (messages, contacts and media people send,
privately or in groups; edits, deletions and reactions (changes.py); read receipts, logins from
other devices), handed to the pipeline one at a time (a sequence of one: the port's update
handler takes several at once too)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from telethon import events
from telethon.tl import types

from app.telegram import port
from app.telegram.notices import login_alert_from_notice
from app.telegram.telethon import limits
from app.telegram.telethon.changes import ChangeConverter, group_ref
from app.telegram.telethon.core import BackendCore

log = logging.getLogger(__name__)


class UpdatesMixin(BackendCore):
    """TelethonBackend's handlers of updates in (the backend registers them on its client)."""

    # Made with each client (`_add_update_handlers`): it looks chats up through that client.
    _changes: ChangeConverter

    async def _deliver(self, update: port.Update) -> None:
        """Hand one update to the pipeline; retry a few times, then leave it for catch-up."""
        assert self._on_update is not None
        delay = 0.2
        for attempt in range(1, limits.HANDLER_TRIES + 1):
            try:
                await self._on_update([update])
                return
            except Exception:
                log.exception(
                    "instance %s: update not handled (try %s of %s)",
                    self.instance,
                    attempt,
                    limits.HANDLER_TRIES,
                )
                if attempt < limits.HANDLER_TRIES:
                    await asyncio.sleep(delay)
                    delay *= 4
        # Keep the stored update state before this update: the next start offers it again.
        self._stuck = True

    def _add_update_handlers(self, client: Any) -> None:
        """Every handler of updates in, registered before the client connects (so that the
        catch-up's updates reach them too)."""
        client.add_event_handler(self._on_new_message, events.NewMessage(incoming=True))
        client.add_event_handler(self._on_read, events.MessageRead(inbox=False))
        self._add_login_handlers(client)
        self._changes = ChangeConverter(client.get_entity, self._own_id, self._clock)
        edits = (types.UpdateEditMessage, types.UpdateEditChannelMessage)
        deletions = (types.UpdateDeleteMessages, types.UpdateDeleteChannelMessages)
        for kinds, handler in (
            (edits, self._on_edit),
            (deletions, self._on_deletion),
            ((types.UpdateMessageReactions,), self._on_reactions),
        ):
            client.add_event_handler(handler, events.Raw(list(kinds)))

    def _own_id(self) -> int | None:
        return self._account.user_id if self._account is not None else None

    async def _on_edit(self, update: Any) -> None:
        for change in await self._changes.edit(update):
            await self._deliver(change)

    async def _on_deletion(self, update: Any) -> None:
        for change in await self._changes.deletion(update):
            await self._deliver(change)

    async def _on_reactions(self, update: Any) -> None:
        for change in await self._changes.reactions(update):
            await self._deliver(change)

    async def _on_new_message(self, event: Any) -> None:
        group = None
        if not event.is_private:
            try:
                chat = event.chat or await event.get_chat()
            except Exception:
                chat = None
            group = group_ref(chat)
            if group is None:
                return  # a broadcast channel, or a chat the account cannot see
        if (
            group is None
            and event.sender_id == port.SERVICE_USER_ID
            and await self._on_service_notice(event.message)
        ):
            return
        message = event.message
        try:
            sender = event.sender or await event.get_sender()
        except Exception:
            sender = None
        if sender is None or not isinstance(sender, types.User):
            log.warning("instance %s: message %s without a known sender", self.instance, message.id)
            return
        incoming = await self._incoming(message, sender, group)
        await self._deliver(incoming)

    async def _incoming(
        self, message: Any, sender: Any, group: port.GroupRef | None = None
    ) -> port.IncomingMessage:
        contact = None
        media = None
        raw = message.media
        if isinstance(raw, types.MessageMediaContact):
            contact = port.SharedContact(
                phone=raw.phone_number or "",
                user_id=int(raw.user_id or 0),
                first_name=raw.first_name or None,
                last_name=raw.last_name or None,
            )
        elif isinstance(raw, types.MessageMediaPhoto | types.MessageMediaDocument):
            media = await self._download(message, raw)
        location = _location(raw)
        reply_to = None
        if message.reply_to is not None:
            reply_to = getattr(message.reply_to, "reply_to_msg_id", None)
        return port.IncomingMessage(
            message_id=int(message.id),
            date=message.date,
            sender=port.Sender(
                user_id=int(sender.id),
                access_hash=sender.access_hash,
                phone=sender.phone,
                first_name=sender.first_name,
                last_name=sender.last_name,
                username=sender.username,
                is_bot=bool(sender.bot),
            ),
            text=message.message or "",
            contact=contact,
            media=media,
            reply_to_message_id=reply_to,
            group=group,
            # Telegram's flag: the message names the account or answers one of its messages.
            mentioned=bool(getattr(message, "mentioned", False)),
            location=location,
        )

    async def _download(self, message: Any, raw: Any) -> port.IncomingMedia | None:
        kind, filename, mime = _media_facts(raw)
        if kind is None:
            return None
        size = message.file.size if message.file is not None else None
        if size is not None and size > limits.MAX_DOWNLOAD_BYTES:
            log.warning("instance %s: media of %s bytes not downloaded", self.instance, size)
            return None
        data = await asyncio.wait_for(
            self._client.download_media(message, file=bytes), limits.CALL_TIMEOUT_S
        )
        if not isinstance(data, bytes):
            return None
        return port.IncomingMedia(kind=kind, data=data, filename=filename, mime_type=mime)

    async def _on_read(self, event: Any) -> None:
        if event.outbox and isinstance(event.original_update.peer, types.PeerUser):
            user_id = event.original_update.peer.user_id
            await self._deliver(port.OutboxRead(user_id=int(user_id), max_id=int(event.max_id)))

    async def _reconcile_reads(self, client: Any) -> None:
        """Read receipts given while the gateway was away: Telethon's catch-up drops them
        (they come as other_updates with a pts), so read them off the dialogs instead."""
        try:
            async for dialog in client.iter_dialogs(limit=limits.RECONCILE_DIALOGS):
                peer = dialog.dialog.peer
                read_max = int(dialog.dialog.read_outbox_max_id or 0)
                if isinstance(peer, types.PeerUser) and read_max > 0:
                    await self._deliver(port.OutboxRead(user_id=int(peer.user_id), max_id=read_max))
        except Exception:
            log.warning("instance %s: could not read the dialogs' read marks", self.instance)

    # -- logins from other devices --

    def _add_login_handlers(self, client: Any) -> None:
        client.add_event_handler(
            self._on_new_authorization, events.Raw(types.UpdateNewAuthorization)
        )

    async def _on_new_authorization(self, update: Any) -> None:
        await self._deliver(_login_alert(update, self._clock))

    async def _on_service_notice(self, message: Any) -> bool:
        """Telegram's "New login" notice goes to the pipeline as a LoginAlert, never as a
        message; False for any other message of 777000 (login codes), which goes on as before."""
        alert = login_alert_from_notice(message.message or "", message.date, int(message.id))
        if alert is None:
            return False
        await self._deliver(alert)
        return True


def _login_alert(update: Any, clock: Callable[[], datetime]) -> port.LoginAlert:
    """updateNewAuthorization as a port alert.

    Since layer 163 (Telethon 1.39 speaks 199, 1.45 229: the same fields) it is `hash` and, while
    the new session awaits confirmation (`unconfirmed`), its `date`, `device` and `location`;
    without `unconfirmed` it only tells that session `hash` was confirmed. Older layers named
    the hash `auth_key_id` and always carried the details.
    """
    raw_hash = getattr(update, "hash", None)
    if raw_hash is None:
        raw_hash = getattr(update, "auth_key_id", None)
    unconfirmed = bool(getattr(update, "unconfirmed", True))
    return port.LoginAlert(
        source="update",
        date=getattr(update, "date", None) or clock(),
        hash=int(raw_hash) if raw_hash is not None else None,
        device=getattr(update, "device", None) or None,
        location=getattr(update, "location", None) or None,
        unconfirmed=unconfirmed,
    )


def _media_facts(raw: Any) -> tuple[port.MediaKind | None, str | None, str | None]:
    """(kind, file name, MIME type) of a photo or document a person sent."""
    if isinstance(raw, types.MessageMediaPhoto):
        return ("image", "photo.jpg", "image/jpeg") if raw.photo else (None, None, None)
    document = raw.document
    if not isinstance(document, types.Document):
        return None, None, None
    filename = None
    kind: port.MediaKind = "document"
    for attribute in document.attributes:
        if isinstance(attribute, types.DocumentAttributeFilename):
            filename = attribute.file_name
        elif isinstance(attribute, types.DocumentAttributeAudio) and kind == "document":
            kind = "voice_note" if attribute.voice else "audio"
        elif isinstance(attribute, types.DocumentAttributeVideo) and kind != "sticker":
            # Round video messages and GIFs (mp4 marked animated) are videos too. A video
            # file also carries an audio attribute at times: the video one wins.
            kind = "video"
    if any(isinstance(a, types.DocumentAttributeSticker) for a in document.attributes):
        kind = "sticker"  # a video or animated sticker is still a sticker
    if kind == "document" and (document.mime_type or "").startswith("image/") and filename is None:
        kind = "image"
    return kind, filename, document.mime_type


def _location(raw: Any) -> port.Location | None:
    """The point of a location, a live location or a venue a person sent; None for any other
    message (or a point Telegram left empty)."""
    if not isinstance(
        raw, types.MessageMediaGeo | types.MessageMediaGeoLive | types.MessageMediaVenue
    ):
        return None
    point = raw.geo
    if not isinstance(point, types.GeoPoint):
        return None
    title = address = None
    if isinstance(raw, types.MessageMediaVenue):
        title, address = raw.title or None, raw.address or None
    return port.Location(
        latitude=float(point.lat), longitude=float(point.long), title=title, address=address
    )
