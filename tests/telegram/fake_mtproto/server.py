"""`FakeTelegram`: a Telegram data centre on 127.0.0.1 that speaks real MTProto 2.0.

An unmodified Telethon client connects to it after

    client.session.set_dc(fake.dc_id, "127.0.0.1", fake.port)
    telethon.crypto.rsa.add_key(fake.public_key_pem, old=False)

and runs the whole protocol against it: auth key creation, encrypted messages, containers,
gzip, pings, RPC calls and pushed updates. Requests are decoded with Telethon's own TL classes
and answered with them. The state (users, message boxes, pts) lives in `world.py`, the RPC
methods in `methods.py`; this module holds the connections and the test-facing API.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telethon.errors import TypeNotFoundError
from telethon.tl import TLRequest, functions, types
from telethon.tl.core import GzipPacked, MessageContainer

from . import transport
from .crypto import (
    AuthKeyData,
    DecryptError,
    decrypt_client_message,
    encrypt_server_message,
    shared_server_key,
)
from .handshake import Handshake, HandshakeError
from .methods import Call, Methods
from .tl import RPC_RESULT_ID, RpcFail, make, now, read_object, serialize_result, unwrap
from .world import AuthKeyRecord, Device, FakeUser, LoginToken, SentRecord, World

log = logging.getLogger(__name__)

# Error codes for fail_next() when the caller gives none.
_KNOWN_CODES = {
    "AUTH_KEY_UNREGISTERED": 401,
    "SESSION_REVOKED": 401,
    "SESSION_EXPIRED": 401,
    "SESSION_PASSWORD_NEEDED": 401,
    "USER_DEACTIVATED": 401,
    "USER_DEACTIVATED_BAN": 401,
    "AUTH_KEY_DUPLICATED": 406,
    "USER_PRIVACY_RESTRICTED": 403,
    "CHAT_WRITE_FORBIDDEN": 403,
    "RANDOM_ID_DUPLICATE": 500,
    "INTERNAL": 500,
    "RPC_CALL_FAIL": 500,
}


def _default_code(error: str) -> int:
    if error.startswith(("FLOOD_WAIT_", "FLOOD_PREMIUM_WAIT_", "SLOWMODE_WAIT_")):
        return 420
    return _KNOWN_CODES.get(error, 400)


class _MsgIds:
    """Server msg_ids: unix time << 32, strictly increasing, 1 mod 4 for answers, 3 for pushes."""

    def __init__(self) -> None:
        self._last = 0

    def next(self, *, response: bool) -> int:
        t = time.time()
        value = (int(t) << 32) | (int((t % 1) * 2**32) & ~3)
        if value <= self._last:
            value = self._last + 4
        self._last = value
        return value | (1 if response else 3)


class Connection:
    """One TCP connection from a client."""

    def __init__(self, server: FakeTelegram, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.codec: transport.Codec | None = None
        self.key: AuthKeyRecord | None = None
        self.session_id: int | None = None
        self.handshake = Handshake(server._server_key)
        self.no_updates = False  # the client wraps its calls in invokeWithoutUpdates
        self._seq = 0
        # For tests of who was connected when (FakeTelegram.connection_log).
        self.opened_at = time.monotonic()
        self.closed_at: float | None = None
        self.peer_port: int = (writer.get_extra_info("peername") or ("", 0))[1]
        self.key_ids: set[int] = set()
        self._disconnect_timer: asyncio.TimerHandle | None = None

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    async def run(self, reader: asyncio.StreamReader) -> None:
        try:
            self.codec = await transport.detect(reader, self.writer)
            while not self.closed:
                packet = await self.codec.read_packet()
                self._handle_packet(packet)
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        except transport.TransportError as e:
            log.warning("fake Telegram: dropping connection: %s", e)
        except Exception:
            log.exception("fake Telegram: connection handler crashed (a bug in the fake)")
        finally:
            self.close()

    def close(self) -> None:
        if self.closed_at is None:
            self.closed_at = time.monotonic()
        if self._disconnect_timer is not None:
            self._disconnect_timer.cancel()
            self._disconnect_timer = None
        if not self.writer.is_closing():
            self.writer.close()

    def disconnect_later(self, delay_s: float) -> None:
        """ping_delay_disconnect: close the connection unless another such ping comes first
        (Telegram does this; a client that stops answering is cut off)."""
        if self._disconnect_timer is not None:
            self._disconnect_timer.cancel()
        self._disconnect_timer = asyncio.get_running_loop().call_later(delay_s, self.close)

    # --- incoming ---

    def _handle_packet(self, packet: bytes) -> None:
        if len(packet) < 8:
            raise transport.TransportError(f"packet too short ({len(packet)} bytes)")
        key_id: int = struct.unpack("<Q", packet[:8])[0]
        if key_id == 0:
            self._handle_plain(packet)
        else:
            self._handle_encrypted(key_id, packet)

    def _handle_plain(self, packet: bytes) -> None:
        length: int = struct.unpack("<i", packet[16:20])[0]
        request = read_object(packet[20 : 20 + length])
        try:
            answer, new_key = self.handshake.handle(request)
        except HandshakeError as e:
            log.warning("fake Telegram: handshake failed: %s", e)
            self.close()
            return
        body = bytes(answer)
        msg_id = self.server._msg_ids.next(response=True)
        self._send_raw(struct.pack("<qqi", 0, msg_id, len(body)) + body)
        if new_key is not None:
            self.server._register_key(new_key)

    def _handle_encrypted(self, key_id: int, packet: bytes) -> None:
        record = self.server._keys.get(key_id)
        if record is None:
            log.info("fake Telegram: unknown auth key %016x, answering -404", key_id)
            assert self.codec is not None
            self.codec.send_error(404)
            self.close()
            return
        try:
            plain = decrypt_client_message(record.key, packet)
        except DecryptError as e:
            log.warning("fake Telegram: dropping undecryptable message: %s", e)
            self.close()
            return
        _salt, session_id, msg_id, _seq_no, length = struct.unpack("<qqqii", plain[:32])
        self.key = record
        self.key_ids.add(record.key_id)
        if session_id != self.session_id:
            self.session_id = session_id
            self._seq = 0
            self.send_object(
                types.NewSessionCreated(
                    first_msg_id=msg_id, unique_id=secrets.randbits(63), server_salt=record.salt
                ),
                response=False,
            )
        try:
            obj = read_object(plain[32 : 32 + length])
        except TypeNotFoundError as e:
            log.warning(
                "fake Telegram: unknown constructor %08x in message %d",
                e.invalid_constructor_id,
                msg_id,
            )
            self.send_rpc_error(msg_id, 400, "INPUT_CONSTRUCTOR_INVALID")
            return
        self.server._process(self, msg_id, obj)

    # --- outgoing ---

    def _send_raw(self, data: bytes) -> None:
        if self.codec is not None and not self.closed:
            self.codec.send(data)

    def send_body(self, body: bytes, *, response: bool = True) -> None:
        if self.key is None or self.session_id is None or self.closed:
            return
        msg_id = self.server._msg_ids.next(response=response)
        seq_no = self._seq * 2 + 1
        self._seq += 1
        plain = struct.pack("<qqqii", self.key.salt, self.session_id, msg_id, seq_no, len(body))
        self._send_raw(encrypt_server_message(self.key.key, self.key.key_id, plain + body))

    def send_object(self, obj: Any, *, response: bool = True) -> None:
        self.send_body(bytes(obj), response=response)

    def send_rpc_result(self, req_msg_id: int, result: Any) -> None:
        self.send_body(struct.pack("<Iq", RPC_RESULT_ID, req_msg_id) + serialize_result(result))

    def send_rpc_error(self, req_msg_id: int, code: int, message: str) -> None:
        error = types.RpcError(error_code=code, error_message=message)
        self.send_body(struct.pack("<Iq", RPC_RESULT_ID, req_msg_id) + bytes(error))

    def push(self, updates: Any) -> None:
        """A server-initiated `Updates` (msg_id 3 mod 4)."""
        self.send_object(updates, response=False)


class Hold:
    """A call the fake holds back (FakeTelegram.hold_next)."""

    def __init__(self, skip: int = 0, since: float | None = None) -> None:
        self.skip = skip
        self.since = since
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()

    def release(self) -> None:
        self.released.set()


class FakeTelegram:
    """A fake Telegram DC for Telethon clients. See the package docstring for an example."""

    def __init__(self, *, dc_id: int = 2, login_code: str = "12345") -> None:
        self.dc_id = dc_id
        self.login_code = login_code
        self.host = "127.0.0.1"
        self.port = 0
        self._server_key = shared_server_key()
        self.public_key_pem: str = self._server_key.public_key_pem
        self.world = World(dc_id)
        # (auth_key_id, inner request) for every RPC call, wrappers removed.
        self.requests: list[tuple[int, Any]] = []
        self.init_connections: list[Any] = []  # the InitConnectionRequest wrappers seen
        self.unsupported: list[str] = []  # names of requests answered METHOD_NOT_SUPPORTED_BY_FAKE
        self.qr_tokens_issued = 0
        # account.resetAuthorization answers FRESH_RESET_AUTHORISATION_FORBIDDEN to a session
        # logged in less than this long ago (Telegram: about a day; 0 here unless a test sets it).
        self.fresh_reset_s = 0.0
        # What @SpamBot (add_spambot) answers to any message; None: it never answers.
        self.spambot_reply: str | None = None
        self.spambot: FakeUser | None = None
        self._keys: dict[int, AuthKeyRecord] = {}
        self._tokens: list[LoginToken] = []
        self._failures: dict[str, list[list[Any]]] = {}
        self._holds: dict[str, list[Hold]] = {}
        self._connections: set[Connection] = set()
        # Every connection ever made, open or closed, in order (who was connected when).
        self.connection_log: list[Connection] = []
        # Called as each connection opens (a test may find out which process made it).
        self.on_connection: Callable[[Connection], None] | None = None
        self.delay_disconnect_pings = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._msg_ids = _MsgIds()
        self._methods = Methods(self)

    # --- lifecycle ---

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._on_client, host, port)
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def drop_connections(self) -> None:
        """Close every TCP connection, as a network loss would (clients reconnect)."""
        for conn in list(self._connections):
            conn.close()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def write_public_key(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.public_key_pem, encoding="ascii")

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Connection(self, writer)
        self._connections.add(conn)
        self.connection_log.append(conn)
        if self.on_connection is not None:
            self.on_connection(conn)
        try:
            await conn.run(reader)
        finally:
            self._connections.discard(conn)
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # --- the world ---

    def add_account(
        self,
        phone: str,
        *,
        first_name: str = "Acme",
        last_name: str | None = None,
        password: str | None = None,
        user_id: int | None = None,
    ) -> FakeUser:
        """A number that can log in (the gateway's account); `password` enables 2FA."""
        return self.world.add_user(
            phone,
            first_name=first_name,
            last_name=last_name,
            username=None,
            phone_visible=True,
            user_id=user_id,
            is_account=True,
            password=password,
        )

    def add_person(
        self,
        phone: str,
        *,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        phone_visible: bool = True,
        user_id: int | None = None,
    ) -> FakeUser:
        """Someone who writes to accounts; accounts see `User.phone` only if `phone_visible`."""
        return self.world.add_user(
            phone,
            first_name=first_name,
            last_name=last_name,
            username=username,
            phone_visible=phone_visible,
            user_id=user_id,
            is_account=False,
        )

    def add_group(self, title: str, creator: FakeUser, members: list[FakeUser]) -> int:
        """A basic group with `creator` and `members`; returns its chat id."""
        return self.world.add_group(title, creator, members).chat_id

    def person_sends(
        self,
        person: FakeUser,
        account: FakeUser,
        text: str = "",
        *,
        photo: bytes | None = None,
        document: tuple[bytes, str, str] | None = None,
        voice: bytes | None = None,
        audio: tuple[bytes, str] | None = None,
        contact: FakeUser | tuple[str, int, str] | None = None,
        reply_to: int | None = None,
    ) -> int:
        """`person` writes to `account` in private; returns the message id in the account's box.

        Pushed at once to every connected, logged-in connection of the account; otherwise it
        waits for updates.getDifference.
        """
        box = self.world.box(account)
        media = self.world.incoming_media(
            photo=photo, document=document, voice=voice, audio=audio, contact=contact
        )
        if media is None and not text:
            raise ValueError("a message needs text or media")
        message, pts = self.world.new_message(
            box,
            peer=types.PeerUser(person.user_id),
            from_id=None,
            out=False,
            text=text,
            media=media,
            reply_to=reply_to,
        )
        self.push_to_account(
            account, self.world.updates_for(box, [types.UpdateNewMessage(message, pts, 1)])
        )
        return int(message.id)

    def person_edits(self, person: FakeUser, account: FakeUser, message_id: int, text: str) -> None:
        """`person` edits a message they sent to `account` (UpdateEditMessage)."""
        box = self.world.box(account)
        message = box.messages.get(message_id)
        if message is None or message.out or message.peer_id != types.PeerUser(person.user_id):
            raise ValueError(f"message {message_id} is not from {person.first_name}")
        message, pts = self.world.edit_message(box, message_id, text)
        self.push_to_account(
            account, self.world.updates_for(box, [types.UpdateEditMessage(message, pts, 1)])
        )

    def person_reads(self, person: FakeUser, account: FakeUser, max_id: int) -> None:
        """`person` read the account's messages up to `max_id` (UpdateReadHistoryOutbox)."""
        box = self.world.box(account)
        peer = types.PeerUser(person.user_id)
        pts = self.world.mark_read(box, peer, max_id, outbox=True)
        update = types.UpdateReadHistoryOutbox(peer, max_id, pts, 1)
        self.push_to_account(account, self.world.updates_for(box, [update]))

    def sent_to(self, person: FakeUser, account: FakeUser | None = None) -> list[SentRecord]:
        """What accounts (or `account`) sent to `person` in private, oldest first."""
        return [
            r
            for r in self.world.sent
            if r.user_id == person.user_id and (account is None or r.account_id == account.user_id)
        ]

    def sent_in_group(self, chat_id: int, account: FakeUser | None = None) -> list[SentRecord]:
        return [
            r
            for r in self.world.sent
            if r.chat_id == chat_id and (account is None or r.account_id == account.user_id)
        ]

    def read_max_id(self, account: FakeUser, person: FakeUser) -> int:
        """Up to which message the account marked `person`'s messages read (readHistory)."""
        return self.world.box(account).read_inbox.get(person.user_id, 0)

    def messages_of(self, account: FakeUser) -> list[Any]:
        """Every message in the account's box (TL Message objects, as the account sees them)."""
        box = self.world.box(account)
        return [box.messages[i] for i in sorted(box.messages)]

    # --- faults and login helpers ---

    def fail_next(
        self, request: str, error: str, code: int | None = None, *, times: int = 1
    ) -> None:
        """The next `times` calls of `request` (Telethon class name, e.g. "SendMessageRequest")
        fail with rpc_error(code, error). Without a code, the usual one for `error` is used
        (420 for FLOOD_WAIT_X, 401 AUTH_KEY_UNREGISTERED, 500 RANDOM_ID_DUPLICATE, else 400)."""
        self._failures.setdefault(request, []).append(
            [error, code if code is not None else _default_code(error), times]
        )

    def hold_next(self, request: str, *, skip: int = 0, new_connections: bool = False) -> Hold:
        """The next call of `request` (Telethon class name), after `skip` others, is received
        but answered only once the test calls `release()` on what this returns: an injected
        delay at an exact point (`await hold.arrived.wait()` tells the call came). With
        `new_connections`, only calls on connections opened from now on count (a session that
        is yet to connect, not a client already connected)."""
        hold = Hold(skip, since=time.monotonic() if new_connections else None)
        self._holds.setdefault(request, []).append(hold)
        return hold

    async def _answer_later(self, hold: Hold, conn: Connection, msg_id: int, request: Any) -> None:
        await hold.released.wait()
        if not conn.closed:
            self._answer(conn, msg_id, request)

    def revoke(self, account: FakeUser) -> None:
        """Log out every key of `account` (terminated from the phone): 401 AUTH_KEY_UNREGISTERED."""
        for record in self._keys.values():
            if account.user_id in (record.user_id, record.password_user_id):
                record.user_id = record.password_user_id = None
                record.revoked = True

    def scan_qr(self, account: FakeUser) -> None:
        """The phone of `account` scans the newest valid QR login token."""
        current = now()
        token = next(
            (t for t in reversed(self._tokens) if t.expires > current and not t.scanned), None
        )
        if token is None:
            raise ValueError("no unexpired QR login token to scan")
        token.scanned = True
        token.key.qr_user_id = account.user_id
        update = types.UpdateShort(update=types.UpdateLoginToken(), date=current)
        targets = [c for c in self._connections if c.key is token.key] or [token.connection]
        for conn in targets:
            conn.push(update)

    def expire_codes(self) -> None:
        """Every login code sent so far expires (PHONE_CODE_EXPIRED)."""
        for record in self._keys.values():
            for pending in record.codes.values():
                pending.expired = True

    def expire_qr_tokens(self) -> None:
        for token in self._tokens:
            token.expires = now() - dt.timedelta(seconds=1)

    def requests_of(self, name: str) -> list[Any]:
        """The inner requests of that Telethon class name, in order."""
        return [r for _, r in self.requests if type(r).__name__ == name]

    def new_login(
        self,
        account: FakeUser,
        *,
        device: str = "Telegram Desktop",
        location: str = "Berlin, Germany",
        ip: str = "203.0.113.7",
        platform: str = "Windows",
        system_version: str = "Windows 10",
        app_version: str = "5.0",
    ) -> AuthKeyRecord:
        """Someone logs in to `account` from another device, as Telegram announces it: a new
        authorization (an auth key nobody here connects with), then UpdateNewAuthorization
        (unconfirmed, with date, device and location) and the "New login" message of 777000,
        pushed to the account's connected sessions. The update has no pts: a session that is
        offline never gets it; the message waits in the box for updates.getDifference."""
        record = self._register_key(os.urandom(256))
        record.user_id = account.user_id
        region, _, country = location.rpartition(", ")
        record.device = Device(
            device_model=device,
            system_version=system_version,
            app_version=app_version,
            api_id=2040,
            app_name=device,
            platform=platform,
            ip=ip,
            country=country or location,
            region=region,
            official_app=True,
        )
        record.logged_in_at = record.active_at = when = now()
        where = f"{location} (IP = {ip})"
        announce = make(
            types.UpdateNewAuthorization,
            unconfirmed=True,
            hash=record.auth_hash,
            date=when,
            device=device,
            location=where,
        )
        self.push_to_account(account, types.UpdateShort(update=announce, date=when))
        box = self.world.box(account)
        text = (
            f"New login. Dear {account.first_name}, we detected a login into your account from"
            f" a new device on {when:%d/%m/%Y} at {when:%H:%M:%S} UTC.\n\n"
            f"Device: {device}, {app_version}, {system_version}\nLocation: {where}\n\n"
            "If this wasn't you, you can terminate that session in Settings > Devices (or"
            " Privacy & Security > Active Sessions).\n\nIf you think that somebody logged in"
            " to your account against your will, you can enable Two-Step Verification in"
            " Privacy and Security settings."
        )
        service = self.service_user()
        message, pts = self.world.new_message(
            box, peer=types.PeerUser(service.user_id), from_id=None, out=False, text=text
        )
        self.push_to_account(
            account, self.world.updates_for(box, [types.UpdateNewMessage(message, pts, 1)])
        )
        return record

    def add_spambot(
        self,
        reply: str | None = "Good news, no limits are currently applied to your"
        " account. You’re free as a bird!",
    ) -> FakeUser:
        """Telegram's @SpamBot (a bot user, username "SpamBot"): it answers every message an
        account sends it with `spambot_reply` (set it to change the answer; None: silence), a new
        incoming message in the account's box pushed as an update, right after the send."""
        self.spambot_reply = reply
        if self.spambot is None:
            self.spambot = self.world.add_user(
                "42178",
                first_name="Spam Info Bot",
                last_name=None,
                username="SpamBot",
                phone_visible=False,
                user_id=178220800,
                is_account=False,
            )
            self.spambot.bot = True
        return self.spambot

    def bot_received(self, bot: FakeUser, account: FakeUser, message: Any) -> None:
        """`account` sent `bot` a message: @SpamBot answers it, once the send is answered."""
        if bot is not self.spambot or self.spambot_reply is None:
            return
        reply = self.spambot_reply
        asyncio.get_running_loop().call_soon(self.person_sends, bot, account, reply)

    def service_user(self) -> FakeUser:
        """Telegram's service account (777000): login codes and notices come from it."""
        user = self.world.users.get(777000)
        if user is None:
            user = self.add_person(
                "42777", first_name="Telegram", user_id=777000, phone_visible=False
            )
        return user

    def key_alive(self, record: AuthKeyRecord) -> bool:
        """Whether the key is still logged in (an ended session answers AUTH_KEY_UNREGISTERED)."""
        return record.user_id is not None and not record.revoked

    def authorized_keys(self, account: FakeUser) -> list[int]:
        """The auth key ids logged in as `account`."""
        return [k.key_id for k in self._keys.values() if k.user_id == account.user_id]

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def connections_of(self, account: FakeUser) -> list[Connection]:
        """Every connection (open or closed) that used a key logged in as `account`."""
        keys = {k.key_id for k in self._keys.values() if k.user_id == account.user_id}
        return [c for c in self.connection_log if c.key_ids & keys]

    # --- internals used by Connection and Methods ---

    def _register_key(self, key: bytes) -> AuthKeyRecord:
        data = AuthKeyData(key)
        record = AuthKeyRecord(key=key, key_id=data.key_id, salt=secrets.randbits(63))
        self._keys[record.key_id] = record
        return record

    def account_keys(self, account: FakeUser) -> list[AuthKeyRecord]:
        """The keys logged in as `account`: its sessions, oldest first."""
        return [k for k in self._keys.values() if k.user_id == account.user_id]

    def authorization_tl(self, record: AuthKeyRecord, *, current: bool) -> Any:
        device = record.device or Device(
            device_model="?", system_version="?", app_version="?", api_id=0
        )
        return make(
            types.Authorization,
            hash=record.auth_hash,
            current=current or None,
            official_app=device.official_app or None,
            device_model=device.device_model,
            platform=device.platform,
            system_version=device.system_version,
            api_id=device.api_id,
            app_name=device.app_name or f"app {device.api_id}",
            app_version=device.app_version,
            date_created=record.logged_in_at or now(),
            date_active=record.active_at or record.logged_in_at or now(),
            ip=device.ip,
            country=device.country,
            region=device.region,
        )

    def end_authorization(self, record: AuthKeyRecord) -> None:
        """The session is terminated: its key is logged out (AUTH_KEY_UNREGISTERED from now
        on) and its connections are closed, as Telegram drops them."""
        record.user_id = record.password_user_id = None
        record.revoked = True
        for conn in list(self._connections):
            if conn.key is record:
                conn.close()

    def _note_session(self, record: AuthKeyRecord, wrappers: list[Any]) -> None:
        record.active_at = now()
        for wrapper in wrappers:
            if isinstance(wrapper, functions.InitConnectionRequest):
                record.device = Device(
                    device_model=wrapper.device_model,
                    system_version=wrapper.system_version,
                    app_version=wrapper.app_version,
                    api_id=wrapper.api_id,
                )

    def push_to_account(self, account: FakeUser, updates: Any, *, exclude: Any = None) -> int:
        """Push `updates` to every live, logged-in connection of `account`; returns how many."""
        count = 0
        for conn in list(self._connections):
            if conn is exclude or conn.key is None or conn.key.user_id != account.user_id:
                continue
            if conn.session_id is None or conn.closed or conn.no_updates:
                continue
            conn.push(updates)
            count += 1
        return count

    def _issue_token(self, record: AuthKeyRecord, conn: Connection) -> LoginToken:
        token = LoginToken(
            token=os.urandom(32),
            key=record,
            expires=now() + dt.timedelta(seconds=30),
            connection=conn,
        )
        self._tokens.append(token)
        self.qr_tokens_issued += 1
        return token

    def _take_failure(self, name: str) -> tuple[str, int] | None:
        queue = self._failures.get(name)
        if not queue:
            return None
        error, code, times = queue[0]
        if times <= 1:
            queue.pop(0)
        else:
            queue[0][2] = times - 1
        return str(error), int(code)

    def _process(self, conn: Connection, msg_id: int, obj: Any) -> None:
        """One decrypted message: a container, a service message or an RPC call."""
        if isinstance(obj, MessageContainer):
            for inner in obj.messages:
                self._process(conn, inner.msg_id, inner.obj)
        elif isinstance(obj, GzipPacked):
            self._process(conn, msg_id, read_object(obj.data))
        elif isinstance(obj, functions.PingRequest | functions.PingDelayDisconnectRequest):
            conn.send_object(types.Pong(msg_id=msg_id, ping_id=obj.ping_id))
            if isinstance(obj, functions.PingDelayDisconnectRequest):
                self.delay_disconnect_pings += 1
                conn.disconnect_later(obj.disconnect_delay)
        elif isinstance(obj, functions.DestroySessionRequest):
            conn.send_rpc_result(msg_id, types.DestroySessionOk(session_id=obj.session_id))
        elif isinstance(obj, functions.GetFutureSaltsRequest):
            assert conn.key is not None
            start = int(time.time())
            salts = [
                types.FutureSalt(
                    valid_since=dt.datetime.fromtimestamp(start, dt.UTC),
                    valid_until=dt.datetime.fromtimestamp(start + 3600, dt.UTC),
                    salt=conn.key.salt,
                )
            ]
            conn.send_object(types.FutureSalts(req_msg_id=msg_id, now=start, salts=salts))
        elif isinstance(obj, TLRequest):
            self._rpc(conn, msg_id, obj)
        # else: msgs_ack, msg_resend_req, http_wait, ...: nothing to answer

    def _rpc(self, conn: Connection, msg_id: int, request: Any) -> None:
        assert conn.key is not None
        inner, wrappers = unwrap(request)
        self.init_connections.extend(
            w for w in wrappers if isinstance(w, functions.InitConnectionRequest)
        )
        self._note_session(conn.key, wrappers)
        # A session stops getting updates once it calls invokeWithoutUpdates (Telethon's
        # receive_updates=False), and gets them again after a call without it.
        conn.no_updates = any(
            isinstance(w, functions.InvokeWithoutUpdatesRequest) for w in wrappers
        )
        self.requests.append((conn.key.key_id, inner))
        name = type(inner).__name__
        holds = self._holds.get(name)
        if holds and holds[0].since is not None and conn.opened_at < holds[0].since:
            pass  # a connection older than the hold: not the one it waits for
        elif holds and holds[0].skip > 0:
            holds[0].skip -= 1
        elif holds:
            gate = holds.pop(0)
            gate.arrived.set()
            task = asyncio.get_running_loop().create_task(
                self._answer_later(gate, conn, msg_id, inner)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._answer(conn, msg_id, inner)

    def _answer(self, conn: Connection, msg_id: int, inner: Any) -> None:
        assert conn.key is not None
        name = type(inner).__name__
        try:
            failure = self._take_failure(name)
            if failure is not None:
                raise RpcFail(*failure)
            result = self._methods.call(
                Call(server=self, conn=conn, key=conn.key, msg_id=msg_id), inner
            )
        except RpcFail as e:
            log.debug("fake Telegram: %s -> %d %s", name, e.code, e.message)
            conn.send_rpc_error(msg_id, e.code, e.message)
            return
        except Exception:
            log.exception("fake Telegram: %s crashed the fake (a bug in the fake)", name)
            conn.send_rpc_error(msg_id, 500, "FAKE_TELEGRAM_CRASHED")
            return
        conn.send_rpc_result(msg_id, result)
