"""What the fake Telegram knows: users, accounts and their message boxes, groups, files.

Each account has its own message box, as on Telegram: message ids count up per account, and so
does `pts`, the position in the account's update sequence. Every new message, edit or read
mark moves `pts` on by one (`pts_count = 1`) and is logged, so `updates.getDifference` can
replay exactly what a client missed after the `pts` it knows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import mimetypes
import os
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from telethon.tl import types

from .srp import SrpPassword
from .tl import RpcFail, make, now


def normalize_phone(phone: str) -> str:
    """Telethon's `utils.parse_phone`: digits only (drops +, spaces, dashes, brackets)."""
    return re.sub(r"[+()\s-]", "", str(phone))


@dataclass(eq=False)
class FakeUser:
    """A Telegram user: an account that can log in (`is_account`) or a person who writes to it."""

    user_id: int
    access_hash: int
    phone: str
    first_name: str
    last_name: str | None = None
    username: str | None = None
    phone_visible: bool = True
    is_account: bool = False
    bot: bool = False  # shown as User(bot=True)
    about: str | None = None
    srp: SrpPassword | None = field(default=None, repr=False)  # 2FA: salts and verifier only
    profile_photos: list[int] = field(default_factory=list)  # photo ids, newest first
    # Who may write to them (reach_methods.py): "premium" (Premium accounts only),
    # "paid_messages" (`paid_stars` per message) or None (anyone); `deleted`: the account is gone.
    requires: str | None = None
    paid_stars: int = 100
    deleted: bool = False

    @property
    def input_peer(self) -> Any:
        """`InputPeerUser(user_id, access_hash)`, as an account would store it."""
        return types.InputPeerUser(self.user_id, self.access_hash)


@dataclass
class SentRecord:
    """A message an account sent (messages.sendMessage / messages.sendMedia)."""

    message_id: int
    random_id: int
    text: str  # the message, or the media caption
    kind: str  # "text" | "photo" | "document"
    data: bytes | None  # the reassembled upload
    filename: str | None
    mime_type: str | None
    attributes: list[Any]
    voice: bool
    reply_to: int | None
    request: Any
    date: dt.datetime
    account_id: int = 0
    user_id: int | None = None  # private chat
    chat_id: int | None = None  # basic group

    @property
    def audio(self) -> Any | None:
        """The DocumentAttributeAudio the person received (voice, duration, waveform...)."""
        return next(
            (a for a in self.attributes if isinstance(a, types.DocumentAttributeAudio)), None
        )


@dataclass
class StoredFile:
    """A photo or document the server holds; downloadable with upload.getFile."""

    id: int
    access_hash: int
    file_reference: bytes
    data: bytes
    kind: str  # "photo" | "document"
    mime_type: str
    attributes: list[Any]
    date: dt.datetime


@dataclass
class Group:
    """A basic group (messages.getAllChats, PeerChat)."""

    chat_id: int
    title: str
    creator: FakeUser
    members: list[FakeUser]
    date: dt.datetime


@dataclass
class BoxEvent:
    pts: int
    kind: str  # "message" | "edit" | "read_outbox" | "read_inbox"
    message_id: int = 0
    peer: Any = None
    max_id: int = 0
    update: Any = None  # any other update: replayed as it was pushed


@dataclass
class Box:
    """One account's message box."""

    account: FakeUser
    pts: int = 1
    last_message_id: int = 0
    # id -> TL Message, as the account sees it
    messages: dict[int, Any] = field(default_factory=dict)
    events: list[BoxEvent] = field(default_factory=list)
    random_ids: set[int] = field(default_factory=set)
    # peer key -> the highest message id read: by the account (inbox), by the peer (outbox)
    read_inbox: dict[int, int] = field(default_factory=dict)
    read_outbox: dict[int, int] = field(default_factory=dict)
    contacts: set[int] = field(default_factory=set)

    def next_pts(self) -> int:
        self.pts += 1
        return self.pts

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


_MESSAGE_TYPES = (types.Message, types.MessageService)


def peer_key(peer: Any) -> int:
    """Telethon's marked id: user id for PeerUser, -chat_id for PeerChat."""
    if isinstance(peer, types.PeerChat):
        return -int(peer.chat_id)
    return int(peer.user_id)


class World:
    def __init__(self, dc_id: int) -> None:
        self.dc_id = dc_id
        self.users: dict[int, FakeUser] = {}
        self.by_phone: dict[str, FakeUser] = {}
        self.boxes: dict[int, Box] = {}
        self.groups: dict[int, Group] = {}
        self.files: dict[int, StoredFile] = {}
        self.sent: list[SentRecord] = []
        self._user_ids = itertools.count(1_000_001)
        self._chat_ids = itertools.count(500_001)

    # --- users ---

    def add_user(
        self,
        phone: str,
        *,
        first_name: str,
        last_name: str | None,
        username: str | None,
        phone_visible: bool,
        user_id: int | None,
        is_account: bool,
        password: str | None = None,
    ) -> FakeUser:
        phone = normalize_phone(phone)
        if not phone.isdigit():
            raise ValueError(f"not a phone number: {phone!r}")
        if phone in self.by_phone:
            raise ValueError(f"phone {phone} already belongs to a user")
        uid = user_id if user_id is not None else next(self._user_ids)
        if uid in self.users:
            raise ValueError(f"user id {uid} already taken")
        user = FakeUser(
            user_id=uid,
            access_hash=secrets.randbits(63),
            phone=phone,
            first_name=first_name,
            last_name=last_name,
            username=username,
            phone_visible=phone_visible,
            is_account=is_account,
            srp=SrpPassword.create(password) if password is not None else None,
        )
        self.users[uid] = user
        self.by_phone[phone] = user
        if is_account:
            self.boxes[uid] = Box(account=user)
        return user

    def box(self, account: FakeUser) -> Box:
        box = self.boxes.get(account.user_id)
        if box is None:
            raise ValueError(f"{account.first_name} ({account.user_id}) is not an account")
        return box

    def user_view(self, user: FakeUser, viewer: FakeUser | None) -> Any:
        """The `User` object `viewer` gets for `user` (phone only if visible to them)."""
        is_self = viewer is not None and user is viewer
        contact = (
            viewer is not None
            and viewer.user_id in self.boxes
            and user.user_id in self.boxes[viewer.user_id].contacts
        )
        phone = user.phone if (is_self or contact or user.phone_visible) else None
        return make(
            types.User,
            id=user.user_id,
            is_self=is_self or None,
            contact=contact or None,
            access_hash=user.access_hash,
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            phone=phone,
            bot=user.bot or None,
            deleted=user.deleted or None,
            bot_info_version=1 if user.bot else None,
            status=None if user.bot else types.UserStatusRecently(),
        )

    def by_username(self, username: str) -> FakeUser | None:
        """The user with this public username (case-insensitive, as Telegram matches it)."""
        wanted = username.lstrip("@").lower()
        return next(
            (u for u in self.users.values() if u.username and u.username.lower() == wanted), None
        )

    def resolve_input_user(self, input_user: Any, viewer: FakeUser) -> FakeUser:
        if isinstance(input_user, types.InputUserSelf | types.InputPeerSelf):
            return viewer
        user_id = getattr(input_user, "user_id", None)
        user = self.users.get(user_id) if user_id is not None else None
        if user is None or (user is not viewer and input_user.access_hash != user.access_hash):
            raise RpcFail("USER_ID_INVALID")
        return user

    def resolve_peer(self, peer: Any, viewer: FakeUser) -> FakeUser | Group:
        """The user or group an InputPeer names, checked like Telegram checks it."""
        if isinstance(peer, types.InputPeerUser):
            user = self.users.get(peer.user_id)
            if user is None or user is viewer or peer.access_hash != user.access_hash:
                raise RpcFail("PEER_ID_INVALID")
            return user
        if isinstance(peer, types.InputPeerChat):
            group = self.groups.get(peer.chat_id)
            if group is None or viewer not in group.members:
                raise RpcFail("PEER_ID_INVALID")
            return group
        raise RpcFail("PEER_ID_INVALID")

    # --- groups ---

    def add_group(self, title: str, creator: FakeUser, members: list[FakeUser]) -> Group:
        everyone = [creator, *(m for m in members if m is not creator)]
        group = Group(
            chat_id=next(self._chat_ids), title=title, creator=creator, members=everyone, date=now()
        )
        self.groups[group.chat_id] = group
        return group

    def chat_view(self, group: Group, viewer: FakeUser) -> Any:
        return make(
            types.Chat,
            id=group.chat_id,
            title=group.title,
            photo=types.ChatPhotoEmpty(),
            participants_count=len(group.members),
            date=group.date,
            version=1,
            creator=(group.creator is viewer) or None,
        )

    def groups_of(self, account: FakeUser) -> list[Group]:
        return [g for g in self.groups.values() if account in g.members]

    # --- files ---

    def store_file(
        self, data: bytes, kind: str, mime_type: str, attributes: list[Any] | None = None
    ) -> StoredFile:
        stored = StoredFile(
            id=secrets.randbits(63),
            access_hash=secrets.randbits(63),
            file_reference=os.urandom(8),
            data=data,
            kind=kind,
            mime_type=mime_type,
            attributes=list(attributes or []),
            date=now(),
        )
        self.files[stored.id] = stored
        return stored

    def photo_tl(self, stored: StoredFile) -> Any:
        return make(
            types.Photo,
            id=stored.id,
            access_hash=stored.access_hash,
            file_reference=stored.file_reference,
            date=stored.date,
            sizes=[types.PhotoSize(type="y", w=800, h=600, size=len(stored.data))],
            dc_id=self.dc_id,
        )

    def document_tl(self, stored: StoredFile) -> Any:
        return make(
            types.Document,
            id=stored.id,
            access_hash=stored.access_hash,
            file_reference=stored.file_reference,
            date=stored.date,
            mime_type=stored.mime_type,
            size=len(stored.data),
            dc_id=self.dc_id,
            attributes=stored.attributes,
        )

    def media_tl(self, stored: StoredFile) -> Any:
        if stored.kind == "photo":
            return make(types.MessageMediaPhoto, photo=self.photo_tl(stored))
        return make(types.MessageMediaDocument, document=self.document_tl(stored))

    def incoming_media(
        self,
        *,
        photo: bytes | None,
        document: tuple[bytes, str, str] | None,
        voice: bytes | None,
        audio: tuple[bytes, str] | None,
        contact: FakeUser | tuple[str, int, str] | None,
    ) -> Any:
        """The MessageMedia for what a person sends (at most one kind)."""
        given = [x for x in (photo, document, voice, audio, contact) if x is not None]
        if len(given) > 1:
            raise ValueError("a message carries at most one media")
        if photo is not None:
            return self.media_tl(self.store_file(photo, "photo", "image/jpeg"))
        if document is not None:
            data, filename, mime = document
            attrs = [types.DocumentAttributeFilename(file_name=filename)]
            return self.media_tl(self.store_file(data, "document", mime, attrs))
        if voice is not None:
            attrs = [make(types.DocumentAttributeAudio, duration=1, voice=True)]
            return self.media_tl(self.store_file(voice, "document", "audio/ogg", attrs))
        if audio is not None:
            data, name_or_mime = audio
            if "/" in name_or_mime:
                mime = name_or_mime
                filename = "audio" + (mimetypes.guess_extension(mime) or "")
            else:
                filename = name_or_mime
                mime = mimetypes.guess_type(filename)[0] or "audio/mpeg"
            attrs = [
                make(types.DocumentAttributeAudio, duration=1, voice=False),
                types.DocumentAttributeFilename(file_name=filename),
            ]
            return self.media_tl(self.store_file(data, "document", mime, attrs))
        if contact is not None:
            if isinstance(contact, FakeUser):
                phone, user_id, first = contact.phone, contact.user_id, contact.first_name
                last = contact.last_name or ""
            else:
                phone, user_id, first = contact
                last = ""
            return make(
                types.MessageMediaContact,
                phone_number=phone,
                first_name=first,
                last_name=last,
                vcard="",
                user_id=user_id,
            )
        return None

    # --- messages and the update log ---

    def new_message(
        self,
        box: Box,
        *,
        peer: Any,
        from_id: Any,
        out: bool,
        text: str,
        media: Any = None,
        reply_to: int | None = None,
        date: dt.datetime | None = None,
    ) -> tuple[Any, int]:
        """Store a message in `box`; returns (TL Message, pts)."""
        msg_id = box.next_message_id()
        message = make(
            types.Message,
            id=msg_id,
            peer_id=peer,
            date=date or now(),
            message=text,
            out=out or None,
            from_id=from_id,
            media=media,
            reply_to=make(types.MessageReplyHeader, reply_to_msg_id=reply_to) if reply_to else None,
        )
        box.messages[msg_id] = message
        pts = box.next_pts()
        box.events.append(BoxEvent(pts=pts, kind="message", message_id=msg_id))
        return message, pts

    def edit_message(self, box: Box, message_id: int, text: str) -> tuple[Any, int]:
        message = box.messages.get(message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in the box of {box.account.user_id}")
        message.message = text
        message.edit_date = now()
        pts = box.next_pts()
        box.events.append(BoxEvent(pts=pts, kind="edit", message_id=message_id))
        return message, pts

    def mark_read(self, box: Box, peer: Any, max_id: int, *, outbox: bool) -> int:
        marks = box.read_outbox if outbox else box.read_inbox
        key = peer_key(peer)
        marks[key] = max(marks.get(key, 0), max_id)
        pts = box.next_pts()
        box.events.append(
            BoxEvent(
                pts=pts, kind="read_outbox" if outbox else "read_inbox", peer=peer, max_id=max_id
            )
        )
        return pts

    def update_for(self, box: Box, event: BoxEvent) -> Any:
        if event.update is not None:
            return event.update
        if event.kind == "message":
            return types.UpdateNewMessage(box.messages[event.message_id], event.pts, 1)
        if event.kind == "edit":
            return types.UpdateEditMessage(box.messages[event.message_id], event.pts, 1)
        if event.kind == "read_outbox":
            return types.UpdateReadHistoryOutbox(event.peer, event.max_id, event.pts, 1)
        return make(
            types.UpdateReadHistoryInbox,
            peer=event.peer,
            max_id=event.max_id,
            still_unread_count=0,
            pts=event.pts,
            pts_count=1,
        )

    def entities_for(self, box: Box, objects: list[Any]) -> tuple[list[Any], list[Any]]:
        """The users and chats `box.account` needs to make sense of messages / updates."""
        user_ids: dict[int, None] = {box.account.user_id: None}
        chat_ids: dict[int, None] = {}
        for obj in objects:
            # An update carries its Message in `.message`; a Message's `.message` is its text.
            inner = getattr(obj, "message", None)
            message = inner if isinstance(inner, _MESSAGE_TYPES) else obj
            for peer in (
                getattr(obj, "peer", None),
                getattr(message, "peer_id", None),
                getattr(message, "from_id", None),
            ):
                if isinstance(peer, types.PeerUser):
                    user_ids[peer.user_id] = None
                elif isinstance(peer, types.PeerChat):
                    chat_ids[peer.chat_id] = None
            media = getattr(message, "media", None)
            if isinstance(media, types.MessageMediaContact) and media.user_id in self.users:
                user_ids[media.user_id] = None
        for chat_id in chat_ids:
            for member in self.groups[chat_id].members:
                user_ids[member.user_id] = None
        users = [self.user_view(self.users[uid], box.account) for uid in user_ids]
        chats = [self.chat_view(self.groups[cid], box.account) for cid in chat_ids]
        return users, chats

    def updates_for(self, box: Box, updates: list[Any]) -> Any:
        users, chats = self.entities_for(box, updates)
        return types.Updates(updates=updates, users=users, chats=chats, date=now(), seq=0)

    def state(self, box: Box) -> Any:
        unread = sum(
            1
            for m in box.messages.values()
            if not m.out and m.id > box.read_inbox.get(peer_key(m.peer_id), 0)
        )
        return types.updates.State(pts=box.pts, qts=0, date=now(), seq=0, unread_count=unread)

    def difference(self, box: Box, pts: int) -> Any:
        events = [e for e in box.events if e.pts > pts]
        if not events:
            return types.updates.DifferenceEmpty(date=now(), seq=0)
        new_messages = [box.messages[e.message_id] for e in events if e.kind == "message"]
        other = [self.update_for(box, e) for e in events if e.kind != "message"]
        users, chats = self.entities_for(box, [*new_messages, *other])
        return types.updates.Difference(
            new_messages=new_messages,
            new_encrypted_messages=[],
            other_updates=other,
            chats=chats,
            users=users,
            state=self.state(box),
        )

    # --- uploads ---

    @staticmethod
    def check_md5(data: bytes, md5_checksum: str | None) -> None:
        if md5_checksum and hashlib.md5(data).hexdigest() != md5_checksum:
            raise RpcFail("MD5_CHECKSUM_INVALID")


# --- auth keys and logins ---


@dataclass
class PendingCode:
    """A login code sent for `phone` (auth.sendCode); its phone_code_hash is the dict key."""

    phone: str
    expired: bool = False


@dataclass
class Device:
    """What a session's app said about itself (initConnection), as account.getAuthorizations
    shows it; a login made with `FakeTelegram.new_login` gives it directly."""

    device_model: str
    system_version: str
    app_version: str
    api_id: int
    app_name: str = ""
    platform: str = ""
    ip: str = "127.0.0.1"
    country: str = ""
    region: str = ""
    official_app: bool = False


@dataclass(eq=False)
class AuthKeyRecord:
    """An auth key the server created, and the login bound to it."""

    key: bytes
    key_id: int
    salt: int
    user_id: int | None = None  # logged in as
    password_user_id: int | None = None  # code / QR accepted, waiting for the 2FA password
    qr_user_id: int | None = None  # a scanned QR token, picked up by the next exportLoginToken
    revoked: bool = False
    codes: dict[str, PendingCode] = field(default_factory=dict)
    # The session as account.getAuthorizations lists it: its hash, when it logged in and was
    # last active, and the device (from the client's initConnection unless given).
    auth_hash: int = field(default_factory=lambda: secrets.randbits(62) + 1)
    logged_in_at: dt.datetime | None = None
    active_at: dt.datetime | None = None
    device: Device | None = None


@dataclass(eq=False)
class LoginToken:
    token: bytes
    key: AuthKeyRecord
    expires: dt.datetime
    connection: Any
    scanned: bool = False
