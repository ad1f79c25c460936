"""The RPC methods the fake implements, keyed by Telethon's request class name.

Anything else is answered `400 METHOD_NOT_SUPPORTED_BY_FAKE` and logged (see
`FakeTelegram.unsupported`), so a missing method shows up as an error, never as a hang.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telethon.tl import types

from . import history_methods, reach_methods
from .actions_methods import ActionMethods
from .crypto import DH_G, DH_PRIME_BYTES
from .kinds_methods import card_media, set_typing
from .tl import RpcFail, make, now, utf16_len, vector_of_longs
from .world import (
    AuthKeyRecord,
    FakeUser,
    Group,
    PendingCode,
    SentRecord,
    StoredFile,
    normalize_phone,
    peer_key,
)

if TYPE_CHECKING:
    from .server import Connection, FakeTelegram

log = logging.getLogger(__name__)

MESSAGE_LENGTH_MAX = 4096
CAPTION_LENGTH_MAX = 1024

Handler = Callable[["Call", Any], Any]


@dataclass
class Call:
    server: FakeTelegram
    conn: Connection
    key: AuthKeyRecord
    msg_id: int

    @property
    def user(self) -> FakeUser | None:
        if self.key.user_id is None:
            return None
        return self.server.world.users[self.key.user_id]

    @property
    def account(self) -> FakeUser:
        user = self.user
        if user is None:
            raise RpcFail("AUTH_KEY_UNREGISTERED", 401)
        return user


class Methods:
    def __init__(self, server: FakeTelegram) -> None:
        self.server = server
        self.world = server.world
        # upload.saveFilePart / saveBigFilePart: (auth key id, file id) -> part -> bytes
        self.uploads: dict[tuple[int, int], dict[int, bytes]] = {}
        public: dict[str, Handler] = {
            "GetConfigRequest": self.get_config,
            "GetNearestDcRequest": self.get_nearest_dc,
            "SendCodeRequest": self.send_code,
            "ResendCodeRequest": self.resend_code,
            "SignInRequest": self.sign_in,
            "GetPasswordRequest": self.get_password,
            "CheckPasswordRequest": self.check_password,
            "ExportLoginTokenRequest": self.export_login_token,
            "LogOutRequest": self.log_out,
            "GetUsersRequest": self.get_users,  # answers 401 itself for InputUserSelf
        }
        private: dict[str, Handler] = {
            "GetStateRequest": self.get_state,
            "GetDifferenceRequest": self.get_difference,
            "GetFullUserRequest": self.get_full_user,
            "SendMessageRequest": self.send_message,
            "SendMediaRequest": self.send_media,
            "SaveFilePartRequest": self.save_file_part,
            "SaveBigFilePartRequest": self.save_big_file_part,
            "GetFileRequest": self.get_file,
            "ReadHistoryRequest": self.read_history,
            "GetChatsRequest": self.get_chats,
            "GetFullChatRequest": self.get_full_chat,
            "GetDialogsRequest": self.get_dialogs,
            "GetPeerDialogsRequest": self.get_peer_dialogs,
            "GetMessagesRequest": self.get_messages,
            "GetContactsRequest": self.get_contacts,
            "ImportContactsRequest": self.import_contacts,
            "DeleteContactsRequest": self.delete_contacts,
            "ResolvePhoneRequest": self.resolve_phone,
            "ResolveUsernameRequest": self.resolve_username,
            "UpdateProfileRequest": self.update_profile,
            "UpdateUsernameRequest": self.update_username,
            "UploadProfilePhotoRequest": self.upload_profile_photo,
            "GetUserPhotosRequest": self.get_user_photos,
            "DeletePhotosRequest": self.delete_photos,
            "GetAuthorizationsRequest": self.get_authorizations,
            "ResetAuthorizationRequest": self.reset_authorization,
            "SetTypingRequest": set_typing,
            **reach_methods.handlers(),
        }
        self.actions = ActionMethods(server)  # editing, deleting, reacting (actions_methods.py)
        private.update(self.actions.handlers())
        private.update(history_methods.handlers(self))  # messages.getHistory
        self.table: dict[str, tuple[Handler, bool]] = {
            **{name: (h, False) for name, h in public.items()},
            **{name: (h, True) for name, h in private.items()},
        }

    def call(self, call: Call, request: Any) -> Any:
        name = type(request).__name__
        entry = self.table.get(name)
        if entry is None:
            log.warning("fake Telegram: %s is not supported by the fake: %s", name, request)
            self.server.unsupported.append(name)
            raise RpcFail("METHOD_NOT_SUPPORTED_BY_FAKE")
        handler, needs_login = entry
        if needs_login and call.user is None:
            raise RpcFail("AUTH_KEY_UNREGISTERED", 401)
        return handler(call, request)

    # --- help ---

    def get_config(self, call: Call, request: Any) -> Any:
        s = self.server
        return make(
            types.Config,
            date=now(),
            expires=now().replace(year=now().year + 1),
            test_mode=False,
            this_dc=s.dc_id,
            dc_options=[types.DcOption(id=s.dc_id, ip_address=s.host, port=s.port)],
            dc_txt_domain_name="",
            chat_size_max=200,
            megagroup_size_max=200000,
            forwarded_count_max=100,
            online_update_period_ms=210000,
            offline_blur_timeout_ms=5000,
            offline_idle_timeout_ms=30000,
            online_cloud_timeout_ms=300000,
            notify_cloud_delay_ms=30000,
            notify_default_delay_ms=1500,
            push_chat_period_ms=60000,
            push_chat_limit=2,
            edit_time_limit=172800,
            revoke_time_limit=2147483647,
            revoke_pm_time_limit=2147483647,
            rating_e_decay=2419200,
            stickers_recent_limit=200,
            channels_read_media_period=604800,
            call_receive_timeout_ms=20000,
            call_ring_timeout_ms=90000,
            call_connect_timeout_ms=30000,
            call_packet_timeout_ms=10000,
            me_url_prefix="https://t.me/",
            caption_length_max=CAPTION_LENGTH_MAX,
            message_length_max=MESSAGE_LENGTH_MAX,
            webfile_dc_id=s.dc_id,
        )

    def get_nearest_dc(self, call: Call, request: Any) -> Any:
        return types.NearestDc(
            country="DE", this_dc=self.server.dc_id, nearest_dc=self.server.dc_id
        )

    # --- login ---

    def _authorization(self, call: Call, user: FakeUser) -> Any:
        call.key.user_id = user.user_id
        call.key.password_user_id = None
        call.key.revoked = False
        call.key.logged_in_at = now()
        return make(types.auth.Authorization, user=self.world.user_view(user, user))

    def _account_by_phone(self, phone: str) -> FakeUser:
        phone = normalize_phone(phone)
        user = self.world.by_phone.get(phone)
        if not phone.isdigit() or user is None or not user.is_account:
            raise RpcFail("PHONE_NUMBER_INVALID")
        return user

    def _sent_code(self, call: Call, phone: str, code_type: Any) -> Any:
        code_hash = secrets.token_hex(9)
        call.key.codes[code_hash] = PendingCode(phone=phone)
        return make(types.auth.SentCode, type=code_type, phone_code_hash=code_hash)

    def send_code(self, call: Call, request: Any) -> Any:
        user = self._account_by_phone(request.phone_number)
        code_type = types.auth.SentCodeTypeApp(length=len(self.server.login_code))
        return self._sent_code(call, user.phone, code_type)

    def resend_code(self, call: Call, request: Any) -> Any:
        user = self._account_by_phone(request.phone_number)
        pending = call.key.codes.get(request.phone_code_hash)
        if pending is None or pending.phone != user.phone or pending.expired:
            raise RpcFail("PHONE_CODE_EXPIRED")
        code_type = types.auth.SentCodeTypeSms(length=len(self.server.login_code))
        return self._sent_code(call, user.phone, code_type)

    def sign_in(self, call: Call, request: Any) -> Any:
        user = self._account_by_phone(request.phone_number)
        pending = call.key.codes.get(request.phone_code_hash)
        if pending is None or pending.phone != user.phone or pending.expired:
            raise RpcFail("PHONE_CODE_EXPIRED")
        if not request.phone_code:
            raise RpcFail("PHONE_CODE_EMPTY")
        if request.phone_code != self.server.login_code:
            raise RpcFail("PHONE_CODE_INVALID")
        del call.key.codes[request.phone_code_hash]
        if user.srp is not None:
            call.key.password_user_id = user.user_id
            raise RpcFail("SESSION_PASSWORD_NEEDED", 401)
        return self._authorization(call, user)

    def _password_user(self, call: Call) -> FakeUser | None:
        user_id = call.key.password_user_id or call.key.user_id
        return self.world.users.get(user_id) if user_id is not None else None

    def get_password(self, call: Call, request: Any) -> Any:
        user = self._password_user(call)
        new_algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            salt1=os.urandom(8), salt2=os.urandom(16), g=DH_G, p=DH_PRIME_BYTES
        )
        secure = types.SecurePasswordKdfAlgoPBKDF2HMACSHA512iter100000(salt=os.urandom(8))
        if user is None or user.srp is None:
            return make(
                types.account.Password,
                new_algo=new_algo,
                new_secure_algo=secure,
                secure_random=os.urandom(32),
                has_password=False,
            )
        srp = user.srp
        challenge = srp.new_challenge()
        return make(
            types.account.Password,
            new_algo=new_algo,
            new_secure_algo=secure,
            secure_random=os.urandom(32),
            has_password=True,
            current_algo=types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
                salt1=srp.salt1, salt2=srp.salt2, g=DH_G, p=DH_PRIME_BYTES
            ),
            srp_B=challenge.srp_b,
            srp_id=challenge.srp_id,
        )

    def check_password(self, call: Call, request: Any) -> Any:
        user = self._password_user(call)
        check = request.password
        if user is None or user.srp is None:
            raise RpcFail("PASSWORD_HASH_INVALID")
        if not isinstance(check, types.InputCheckPasswordSRP):
            raise RpcFail("PASSWORD_HASH_INVALID")
        ok = user.srp.check(check.srp_id, check.A, check.M1)
        if ok is None:
            raise RpcFail("SRP_ID_INVALID")
        if not ok:
            raise RpcFail("PASSWORD_HASH_INVALID")
        return self._authorization(call, user)

    def export_login_token(self, call: Call, request: Any) -> Any:
        if call.key.qr_user_id is not None:
            user = self.world.users[call.key.qr_user_id]
            call.key.qr_user_id = None
            if user.srp is not None:
                call.key.password_user_id = user.user_id
                raise RpcFail("SESSION_PASSWORD_NEEDED", 401)
            return types.auth.LoginTokenSuccess(authorization=self._authorization(call, user))
        token = self.server._issue_token(call.key, call.conn)
        return types.auth.LoginToken(expires=token.expires, token=token.token)

    def log_out(self, call: Call, request: Any) -> Any:
        call.key.user_id = call.key.password_user_id = None
        return make(types.auth.LoggedOut)

    # --- users ---

    def get_users(self, call: Call, request: Any) -> Any:
        viewer = call.user
        result = []
        for input_user in request.id:
            if isinstance(input_user, types.InputUserSelf):
                if viewer is None:
                    raise RpcFail("AUTH_KEY_UNREGISTERED", 401)
                result.append(self.world.user_view(viewer, viewer))
                continue
            if viewer is None:
                raise RpcFail("AUTH_KEY_UNREGISTERED", 401)
            user = self.world.users.get(getattr(input_user, "user_id", None) or 0)
            if user is not None and input_user.access_hash == user.access_hash:
                result.append(self.world.user_view(user, viewer))
        return result

    def get_full_user(self, call: Call, request: Any) -> Any:
        viewer = call.account
        user = self.world.resolve_input_user(request.id, viewer)
        full = make(
            types.UserFull,
            id=user.user_id,
            about=user.about,
            settings=make(types.PeerSettings),
            notify_settings=make(types.PeerNotifySettings),
            common_chats_count=0,
        )
        return types.users.UserFull(
            full_user=full, chats=[], users=[self.world.user_view(user, viewer)]
        )

    # --- updates ---

    def get_state(self, call: Call, request: Any) -> Any:
        return self.world.state(self.world.box(call.account))

    def get_difference(self, call: Call, request: Any) -> Any:
        return self.world.difference(self.world.box(call.account), request.pts)

    # --- sending ---

    def _reply_to_id(self, request: Any) -> int | None:
        reply_to = getattr(request, "reply_to", None)
        value = getattr(reply_to, "reply_to_msg_id", None) or getattr(
            request, "reply_to_msg_id", None
        )
        return int(value) if value else None

    def _send(
        self, call: Call, request: Any, *, text: str, media: Any, record: dict[str, Any]
    ) -> Any:
        """Store an outgoing message in every box it reaches; answer the sender."""
        account = call.account
        box = self.world.box(account)
        target = self.world.resolve_peer(request.peer, account)
        reach_methods.refuse_send(target)
        random_id = int(request.random_id)
        if random_id in box.random_ids:
            raise RpcFail("RANDOM_ID_DUPLICATE", 500)
        box.random_ids.add(random_id)
        reply_to = self._reply_to_id(request)
        peer = (
            types.PeerChat(target.chat_id)
            if isinstance(target, Group)
            else types.PeerUser(target.user_id)
        )
        message, pts = self.world.new_message(
            box,
            peer=peer,
            from_id=types.PeerUser(account.user_id),
            out=True,
            text=text,
            media=media,
            reply_to=reply_to,
        )
        self.world.sent.append(
            SentRecord(
                message_id=message.id,
                random_id=random_id,
                text=text,
                reply_to=reply_to,
                request=request,
                date=message.date,
                account_id=account.user_id,
                user_id=None if isinstance(target, Group) else target.user_id,
                chat_id=target.chat_id if isinstance(target, Group) else None,
                **record,
            )
        )
        new_message = types.UpdateNewMessage(message, pts, 1)
        # The account's other sessions see the message as well, as on Telegram.
        self.server.push_to_account(
            account, self.world.updates_for(box, [new_message]), exclude=call.conn
        )
        self._deliver_to_other_accounts(account, target, message)
        if isinstance(target, FakeUser) and target.bot:
            self.server.bot_received(target, account, message)
        if media is None and not isinstance(target, Group):
            return make(
                types.UpdateShortSentMessage,
                out=True,
                id=message.id,
                pts=pts,
                pts_count=1,
                date=message.date,
            )
        return self.world.updates_for(
            box, [types.UpdateMessageID(id=message.id, random_id=random_id), new_message]
        )

    def _deliver_to_other_accounts(
        self, sender: FakeUser, target: FakeUser | Group, message: Any
    ) -> None:
        """Accounts on the receiving side get their own copy (own id and pts)."""
        if isinstance(target, Group):
            receivers = [m for m in target.members if m.is_account and m is not sender]
            peer: Any = types.PeerChat(target.chat_id)
            from_id: Any = types.PeerUser(sender.user_id)
        else:
            receivers = [target] if target.is_account else []
            peer, from_id = types.PeerUser(sender.user_id), None
        for receiver in receivers:
            box = self.world.box(receiver)
            copy, pts = self.world.new_message(
                box,
                peer=peer,
                from_id=from_id,
                out=False,
                text=message.message,
                media=message.media,
                date=message.date,
            )
            self.server.push_to_account(
                receiver, self.world.updates_for(box, [types.UpdateNewMessage(copy, pts, 1)])
            )

    def send_message(self, call: Call, request: Any) -> Any:
        text = request.message or ""
        if not text.strip():
            raise RpcFail("MESSAGE_EMPTY")
        if utf16_len(text) > MESSAGE_LENGTH_MAX:
            raise RpcFail("MESSAGE_TOO_LONG")
        record: dict[str, Any] = {
            "kind": "text",
            "data": None,
            "filename": None,
            "mime_type": None,
            "attributes": [],
            "voice": False,
        }
        return self._send(call, request, text=text, media=None, record=record)

    def send_media(self, call: Call, request: Any) -> Any:
        caption = request.message or ""
        if utf16_len(caption) > CAPTION_LENGTH_MAX:
            raise RpcFail("MEDIA_CAPTION_TOO_LONG")
        _ = call.account  # 401 before touching the uploads
        card = card_media(self.world, request.media)  # a location, venue or contact card
        if card is not None:
            return self._send(call, request, text=caption, media=card.media, record=card.record)
        stored, filename = self._media_file(call, request.media)
        voice = any(
            isinstance(a, types.DocumentAttributeAudio) and a.voice for a in stored.attributes
        )
        record: dict[str, Any] = {
            "kind": stored.kind,
            "data": stored.data,
            "filename": filename,
            "mime_type": stored.mime_type,
            "attributes": stored.attributes,
            "voice": voice,
        }
        return self._send(
            call, request, text=caption, media=self.world.media_tl(stored), record=record
        )

    def _media_file(self, call: Call, media: Any) -> tuple[StoredFile, str | None]:
        if isinstance(media, types.InputMediaUploadedPhoto):
            data = self._assemble(call, media.file)
            return self.world.store_file(data, "photo", "image/jpeg"), media.file.name
        if isinstance(media, types.InputMediaUploadedDocument):
            data = self._assemble(call, media.file)
            attributes = list(media.attributes or [])
            filename = next(
                (a.file_name for a in attributes if isinstance(a, types.DocumentAttributeFilename)),
                None,
            )
            if filename is None:
                filename = media.file.name
                attributes.append(types.DocumentAttributeFilename(file_name=filename))
            mime = media.mime_type or "application/octet-stream"
            return self.world.store_file(data, "document", mime, attributes), filename
        if isinstance(media, types.InputMediaPhoto | types.InputMediaDocument):
            stored = self.world.files.get(getattr(media.id, "id", 0))
            if stored is None or stored.access_hash != media.id.access_hash:
                raise RpcFail("MEDIA_INVALID")
            return stored, next(
                (
                    a.file_name
                    for a in stored.attributes
                    if isinstance(a, types.DocumentAttributeFilename)
                ),
                None,
            )
        log.warning("fake Telegram: media %s is not supported by the fake", type(media).__name__)
        self.server.unsupported.append(type(media).__name__)
        raise RpcFail("MEDIA_TYPE_NOT_SUPPORTED_BY_FAKE")

    # --- files ---

    def save_file_part(self, call: Call, request: Any) -> Any:
        self.uploads.setdefault((call.key.key_id, request.file_id), {})[request.file_part] = (
            request.bytes
        )
        return True

    def save_big_file_part(self, call: Call, request: Any) -> Any:
        return self.save_file_part(call, request)

    def _assemble(self, call: Call, input_file: Any) -> bytes:
        parts = self.uploads.pop((call.key.key_id, input_file.id), None)
        if parts is None or sorted(parts) != list(range(input_file.parts)):
            raise RpcFail("FILE_PARTS_INVALID")
        data = b"".join(parts[i] for i in range(input_file.parts))
        self.world.check_md5(data, getattr(input_file, "md5_checksum", None))
        return data

    def get_file(self, call: Call, request: Any) -> Any:
        location = request.location
        if not isinstance(location, types.InputPhotoFileLocation | types.InputDocumentFileLocation):
            raise RpcFail("LOCATION_INVALID")
        stored = self.world.files.get(location.id)
        if stored is None or stored.access_hash != location.access_hash:
            raise RpcFail("FILE_ID_INVALID")
        if location.file_reference != stored.file_reference:
            raise RpcFail("FILE_REFERENCE_EXPIRED")
        chunk = stored.data[request.offset : request.offset + request.limit]
        file_type = (
            types.storage.FileJpeg() if stored.kind == "photo" else types.storage.FileUnknown()
        )
        return types.upload.File(type=file_type, mtime=int(stored.date.timestamp()), bytes=chunk)

    # --- reading ---

    def read_history(self, call: Call, request: Any) -> Any:
        account = call.account
        box = self.world.box(account)
        target = self.world.resolve_peer(request.peer, account)
        peer = (
            types.PeerChat(target.chat_id)
            if isinstance(target, Group)
            else types.PeerUser(target.user_id)
        )
        max_id = request.max_id or box.last_message_id
        pts = self.world.mark_read(box, peer, max_id, outbox=False)
        update = make(
            types.UpdateReadHistoryInbox,
            peer=peer,
            max_id=max_id,
            still_unread_count=0,
            pts=pts,
            pts_count=1,
        )
        self.server.push_to_account(
            account, self.world.updates_for(box, [update]), exclude=call.conn
        )
        # The other side learns that its messages were read.
        if isinstance(target, FakeUser) and target.is_account:
            other = self.world.box(target)
            sender_peer = types.PeerUser(account.user_id)
            read_upto = max(
                (m.id for m in other.messages.values() if m.out and m.peer_id == sender_peer),
                default=0,
            )
            if read_upto:
                other_pts = self.world.mark_read(other, sender_peer, read_upto, outbox=True)
                self.server.push_to_account(
                    target,
                    self.world.updates_for(
                        other,
                        [types.UpdateReadHistoryOutbox(sender_peer, read_upto, other_pts, 1)],
                    ),
                )
        return types.messages.AffectedMessages(pts=pts, pts_count=1)

    # --- chats and dialogs ---

    def get_chats(self, call: Call, request: Any) -> Any:
        account = call.account
        chats = []
        for chat_id in request.id:
            group = self.world.groups.get(chat_id)
            if group is None or account not in group.members:
                raise RpcFail("CHAT_ID_INVALID")
            chats.append(self.world.chat_view(group, account))
        return types.messages.Chats(chats=chats)

    def get_full_chat(self, call: Call, request: Any) -> Any:
        account = call.account
        group = self.world.groups.get(request.chat_id)
        if group is None or account not in group.members:
            raise RpcFail("CHAT_ID_INVALID")
        participants = [
            types.ChatParticipantCreator(user_id=m.user_id)
            if m is group.creator
            else types.ChatParticipant(
                user_id=m.user_id, inviter_id=group.creator.user_id, date=group.date
            )
            for m in group.members
        ]
        full = make(
            types.ChatFull,
            id=group.chat_id,
            about="",
            participants=types.ChatParticipants(
                chat_id=group.chat_id, participants=participants, version=1
            ),
            notify_settings=make(types.PeerNotifySettings),
        )
        return types.messages.ChatFull(
            full_chat=full,
            chats=[self.world.chat_view(group, account)],
            users=[self.world.user_view(m, account) for m in group.members],
        )

    def _dialogs(self, call: Call, only: set[int] | None = None) -> tuple[list[Any], list[Any]]:
        """(dialogs, top messages), newest first; `only` filters by peer key."""
        account = call.account
        box = self.world.box(account)
        top: dict[int, Any] = {}
        for message in box.messages.values():
            key = peer_key(message.peer_id)
            if key not in top or message.id > top[key].id:
                top[key] = message
        peers: dict[int, Any] = {k: m.peer_id for k, m in top.items()}
        for group in self.world.groups_of(account):
            peers.setdefault(-group.chat_id, types.PeerChat(group.chat_id))
        dialogs, messages = [], []
        for key, peer in peers.items():
            if only is not None and key not in only:
                continue
            message = top.get(key)
            read_in = box.read_inbox.get(key, 0)
            unread = sum(
                1
                for m in box.messages.values()
                if not m.out and peer_key(m.peer_id) == key and m.id > read_in
            )
            dialogs.append(
                make(
                    types.Dialog,
                    peer=peer,
                    top_message=message.id if message else 0,
                    read_inbox_max_id=read_in,
                    read_outbox_max_id=box.read_outbox.get(key, 0),
                    unread_count=unread,
                    notify_settings=make(types.PeerNotifySettings),
                )
            )
            if message is not None:
                messages.append(message)
        dialogs.sort(key=lambda d: d.top_message, reverse=True)
        messages.sort(key=lambda m: m.id, reverse=True)
        return dialogs, messages

    def _peers_users_chats(self, call: Call, objects: list[Any]) -> tuple[list[Any], list[Any]]:
        return self.world.entities_for(self.world.box(call.account), objects)

    def get_dialogs(self, call: Call, request: Any) -> Any:
        offset_date = request.offset_date.timestamp() if request.offset_date else 0
        dialogs: list[Any] = []
        messages: list[Any] = []
        if not request.offset_id and offset_date <= 0:  # everything comes in the first answer
            dialogs, messages = self._dialogs(call)
        users, chats = self._peers_users_chats(call, [*messages, *dialogs])
        return types.messages.Dialogs(dialogs=dialogs, messages=messages, chats=chats, users=users)

    def get_peer_dialogs(self, call: Call, request: Any) -> Any:
        account = call.account
        keys = set()
        for dialog_peer in request.peers:
            target = self.world.resolve_peer(dialog_peer.peer, account)
            keys.add(-target.chat_id if isinstance(target, Group) else target.user_id)
        dialogs, messages = self._dialogs(call, keys)
        users, chats = self._peers_users_chats(call, [*messages, *dialogs])
        return types.messages.PeerDialogs(
            dialogs=dialogs,
            messages=messages,
            chats=chats,
            users=users,
            state=self.world.state(self.world.box(account)),
        )

    def _messages_result(self, call: Call, messages: list[Any]) -> Any:
        users, chats = self._peers_users_chats(call, messages)
        return make(types.messages.Messages, messages=messages, chats=chats, users=users)

    def get_messages(self, call: Call, request: Any) -> Any:
        box = self.world.box(call.account)
        found = []
        for item in request.id:
            msg_id = getattr(item, "id", None)
            if isinstance(item, int):
                msg_id = item
            if msg_id in box.messages:
                found.append(box.messages[msg_id])
        return self._messages_result(call, found)

    # --- contacts ---

    def get_contacts(self, call: Call, request: Any) -> Any:
        account = call.account
        box = self.world.box(account)
        contacts = [make(types.Contact, user_id=uid, mutual=False) for uid in sorted(box.contacts)]
        users = [
            self.world.user_view(self.world.users[uid], account) for uid in sorted(box.contacts)
        ]
        return types.contacts.Contacts(contacts=contacts, saved_count=0, users=users)

    def import_contacts(self, call: Call, request: Any) -> Any:
        account = call.account
        box = self.world.box(account)
        imported, users = [], []
        for contact in request.contacts:
            user = self.world.by_phone.get(normalize_phone(contact.phone))
            if user is None or user is account:
                continue
            box.contacts.add(user.user_id)
            imported.append(
                types.ImportedContact(user_id=user.user_id, client_id=contact.client_id)
            )
            users.append(self.world.user_view(user, account))
        return types.contacts.ImportedContacts(
            imported=imported, popular_invites=[], retry_contacts=[], users=users
        )

    def delete_contacts(self, call: Call, request: Any) -> Any:
        account = call.account
        box = self.world.box(account)
        users = []
        for input_user in request.id:
            user = self.world.resolve_input_user(input_user, account)
            box.contacts.discard(user.user_id)
            users.append(self.world.user_view(user, account))
        return types.Updates(updates=[], users=users, chats=[], date=now(), seq=0)

    def resolve_phone(self, call: Call, request: Any) -> Any:
        account = call.account
        user = self.world.by_phone.get(normalize_phone(request.phone))
        if user is None:
            raise RpcFail("PHONE_NOT_OCCUPIED")
        return types.contacts.ResolvedPeer(
            peer=types.PeerUser(user.user_id),
            chats=[],
            users=[self.world.user_view(user, account)],
        )

    def resolve_username(self, call: Call, request: Any) -> Any:
        account = call.account
        user = self.world.by_username(request.username)
        if user is None:
            raise RpcFail("USERNAME_NOT_OCCUPIED")
        return types.contacts.ResolvedPeer(
            peer=types.PeerUser(user.user_id),
            chats=[],
            users=[self.world.user_view(user, account)],
        )

    # --- profile ---

    def update_profile(self, call: Call, request: Any) -> Any:
        account = call.account
        if request.first_name is not None:
            if not request.first_name.strip():
                raise RpcFail("FIRSTNAME_INVALID")
            account.first_name = request.first_name
        if request.last_name is not None:
            account.last_name = request.last_name or None
        if request.about is not None:
            if len(request.about) > 70:
                raise RpcFail("ABOUT_TOO_LONG")
            account.about = request.about
        return self.world.user_view(account, account)

    def update_username(self, call: Call, request: Any) -> Any:
        account = call.account
        username = request.username or None
        if username is not None:
            taken = any(
                u.username and u.username.lower() == username.lower() and u is not account
                for u in self.world.users.values()
            )
            if taken:
                raise RpcFail("USERNAME_OCCUPIED")
        if username == account.username:
            raise RpcFail("USERNAME_NOT_MODIFIED")
        account.username = username
        return self.world.user_view(account, account)

    def upload_profile_photo(self, call: Call, request: Any) -> Any:
        account = call.account
        if request.file is None:
            raise RpcFail("PHOTO_FILE_MISSING")
        stored = self.world.store_file(self._assemble(call, request.file), "photo", "image/jpeg")
        account.profile_photos.insert(0, stored.id)
        return types.photos.Photo(
            photo=self.world.photo_tl(stored), users=[self.world.user_view(account, account)]
        )

    def get_user_photos(self, call: Call, request: Any) -> Any:
        user = self.world.resolve_input_user(request.user_id, call.account)
        ids = user.profile_photos[request.offset :]
        if request.limit:
            ids = ids[: request.limit]
        photos = [self.world.photo_tl(self.world.files[i]) for i in ids]
        return make(types.photos.Photos, photos=photos, users=[])

    def delete_photos(self, call: Call, request: Any) -> Any:
        account = call.account
        deleted = []
        for photo in request.id:
            if photo.id in account.profile_photos:
                account.profile_photos.remove(photo.id)
                deleted.append(photo.id)
        return vector_of_longs(deleted)

    # --- sessions (account.getAuthorizations / account.resetAuthorization) ---

    def get_authorizations(self, call: Call, request: Any) -> Any:
        account = call.account
        keys = self.server.account_keys(account)
        return make(
            types.account.Authorizations,
            authorization_ttl_days=180,
            authorizations=[self.server.authorization_tl(k, current=k is call.key) for k in keys],
        )

    def reset_authorization(self, call: Call, request: Any) -> Any:
        """Telegram documents two errors: 400 HASH_INVALID and 406
        FRESH_RESET_AUTHORISATION_FORBIDDEN (the caller's session is younger than about a day;
        `FakeTelegram.fresh_reset_s`, 0 by default). What it answers for the caller's own hash
        is not documented: the fake assumes HASH_INVALID (auth.logOut is how a session ends
        itself)."""
        account = call.account
        target = next(
            (k for k in self.server.account_keys(account) if k.auth_hash == request.hash), None
        )
        if target is None or target is call.key:
            raise RpcFail("HASH_INVALID")
        logged_in = call.key.logged_in_at
        age_s = (now() - logged_in).total_seconds() if logged_in is not None else float("inf")
        if age_s < self.server.fresh_reset_s:
            raise RpcFail("FRESH_RESET_AUTHORISATION_FORBIDDEN", 406)
        self.server.end_authorization(target)
        return True
