"""The sandbox backend: a simulated Telegram network per instance (SPEC §8).

It behaves like Telegram where the pipeline can tell: people have stable ids and access hashes,
message ids grow per account, a repeated random_id is refused (RANDOM_ID_DUPLICATE), updates are
pushed in order and replayed after a restart from the stored position (like pts), and faults
(FloodWait, blocked, deactivated, privacy...) can be injected. Its state lives in its own
database tables, so it survives restarts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import col

from app.db import SessionFactory, SqlRunner, transaction
from app.models import (
    SandboxAccount,
    SandboxFault,
    SandboxGroup,
    SandboxMessage,
    SandboxUpdate,
    table_of,
)
from app.models import SandboxUser as SandboxUserRow
from app.queueing import Wakeup
from app.telegram.port import (
    MEDIA_KINDS,
    Account,
    AlreadySent,
    ConnectionChanged,
    FloodWait,
    GroupNotFound,
    GroupPeer,
    IncomingMedia,
    IncomingMessage,
    LoginError,
    LoginStep,
    MediaKind,
    NotLoggedIn,
    OutboxRead,
    OutgoingMessage,
    PeerFlood,
    PeerInvalid,
    PrivacyRestricted,
    Profile,
    Sender,
    SentMessage,
    SessionRevoked,
    SharedContact,
    TelegramError,
    TransientError,
    Update,
    UpdateHandler,
    UserBlocked,
    UserDeactivated,
    UserPeer,
)

log = logging.getLogger(__name__)

# An update whose handling keeps failing is given up after this many tries.
MAX_UPDATE_ATTEMPTS = 5


_A = table_of(SandboxAccount)
_U = table_of(SandboxUserRow)
_M = table_of(SandboxMessage)
_G = table_of(SandboxGroup)
_F = table_of(SandboxFault)

# Built once: constructing a Core statement costs more than running it (sends are hot).
_SEL_ACCOUNT = select(_A.c.logged_in, _A.c.last_message_id).where(
    _A.c.instance == bindparam("instance")
)
_SEL_USER = select(_U.c.user_id, _U.c.access_hash, _U.c.number).where(
    _U.c.instance == bindparam("instance"), _U.c.user_id == bindparam("user_id")
)
_SEL_FAULT = (
    select(_F.c.id, _F.c.flood_wait_s, _F.c.error)
    .where(
        _F.c.instance == bindparam("instance"),
        _F.c.times_left > 0,
        or_(_F.c.number.is_(None), _F.c.number == bindparam("number")),
    )
    .order_by(_F.c.id)
    .limit(1)
)
_USE_FAULT = (
    update(_F).where(_F.c.id == bindparam("fault_id")).values(times_left=_F.c.times_left - 1)
)
_SEL_DUPLICATE = select(_M.c.message_id).where(
    _M.c.instance == bindparam("instance"), _M.c.random_id == bindparam("random_id")
)
_SEL_GROUP = select(_G.c.chat_id).where(
    _G.c.instance == bindparam("instance"), _G.c.chat_id == bindparam("chat_id")
)
_NEXT_ID = (
    update(_A)
    .where(_A.c.instance == bindparam("b_instance"))
    .values(last_message_id=bindparam("b_message_id"))
)
_INSERT_MESSAGE = insert(_M)

FAULT_ERRORS: dict[str, Callable[[], TelegramError]] = {
    "blocked": lambda: UserBlocked("USER_IS_BLOCKED"),
    "deactivated": lambda: UserDeactivated("INPUT_USER_DEACTIVATED"),
    "privacy": lambda: PrivacyRestricted("USER_PRIVACY_RESTRICTED"),
    "peer_invalid": lambda: PeerInvalid("PEER_ID_INVALID"),
    "peer_flood": lambda: PeerFlood("PEER_FLOOD"),
    "transient": lambda: TransientError("RPC_CALL_FAIL"),
    "revoked": lambda: SessionRevoked("AUTH_KEY_UNREGISTERED"),
}


class SandboxInputError(ValueError):
    """A malformed request to the sandbox's own admin endpoints."""


def _stable_int(*parts: object, bits: int = 40) -> int:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - bits) or 1


def fake_user_id(number: str) -> int:
    """The same number is the same person everywhere in the sandbox."""
    return 100_000_000 + _stable_int("user", number, bits=33)


def fake_access_hash(instance: int, user_id: int) -> int:
    # Like Telegram: the hash is per (viewing account, user), not global.
    return _stable_int("hash", instance, user_id, bits=62)


def gateway_phone(instance: int) -> str:
    return f"4230{instance:08d}"  # +423 is unassigned: this never collides with a real number


@dataclass(frozen=True)
class InboundPerson:
    number: str
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    phone_visible: bool = True
    is_bot: bool = False


class SandboxTelegram:
    """One sandbox instance: the port's backend plus the simulation's controls."""

    def __init__(
        self,
        instance: int,
        factory: SessionFactory,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
        sql: SqlRunner,
        poll_interval_s: float = 1.0,
        password: str | None = None,
    ) -> None:
        self.instance = instance
        # The 2FA password the simulated login asks for ([[instances]] sandbox_password).
        self.password = password
        self._on_update: UpdateHandler | None = None
        self._waiting_qr: SandboxLogin | None = None
        self.photo_sha256: str | None = None
        self._factory = factory
        self._sql = sql
        self._wakeup = wakeup
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._pump: asyncio.Task[None] | None = None
        self._failures: dict[int, int] = {}
        self.consumed_update_id = 0

    @property
    def _topic(self) -> str:
        return f"sandbox:{self.instance}"

    async def ensure_account(self) -> SandboxAccount:
        async with transaction(self._factory) as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is None:
                phone = gateway_phone(self.instance)
                account = SandboxAccount(
                    instance=self.instance, phone=phone, user_id=fake_user_id(phone)
                )
                session.add(account)
            return account

    # --- the port ---

    async def start(self, on_update: UpdateHandler) -> None:
        await self.ensure_account()
        self._on_update = on_update
        self._pump = asyncio.create_task(self._pump_updates(on_update), name=self._topic)

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None

    async def me(self) -> Account | None:
        async with self._factory() as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is None or not account.logged_in:
                return None
            return Account(
                user_id=account.user_id,
                phone=account.phone,
                first_name=account.first_name,
                last_name=account.last_name,
            )

    # --- logging in and out (SPEC §8: any phone, code 12345, the configured password) ---

    def new_login(self) -> SandboxLogin:
        return SandboxLogin(self)

    async def login_completed(self) -> None:
        return None  # log_in() already put the account into service

    def scan(self) -> bool:
        """The simulated phone scans the QR code shown; False when no QR login waits."""
        login = self._waiting_qr
        if login is None:
            return False
        login.scanned.set()
        return True

    async def log_in(self, phone: str) -> Account:
        async with transaction(self._factory) as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is None:
                account = SandboxAccount(instance=self.instance, phone=phone, user_id=0)
                session.add(account)
            account.phone = phone
            account.user_id = fake_user_id(phone)
            account.logged_in = True
            result = Account(
                user_id=account.user_id,
                phone=phone,
                first_name=account.first_name,
                last_name=account.last_name,
            )
        await self._tell(ConnectionChanged("ready"))
        return result

    async def log_out(self) -> None:
        async with transaction(self._factory) as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is not None:
                account.logged_in = False
        await self._tell(ConnectionChanged("logged_out"))

    async def _tell(self, update: ConnectionChanged) -> None:
        if self._on_update is not None:
            await self._on_update(update)

    # --- profile ---

    async def get_profile(self) -> Profile | None:
        async with self._factory() as session:
            account = await session.get(SandboxAccount, self.instance)
        if account is None or not account.logged_in:
            return None
        return Profile(account.first_name, account.last_name, account.about)

    async def set_profile(self, first_name: str, last_name: str | None, about: str | None) -> None:
        async with transaction(self._factory) as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is None or not account.logged_in:
                raise NotLoggedIn(f"sandbox instance {self.instance} is not logged in")
            account.first_name = first_name
            account.last_name = last_name
            account.about = about

    async def set_photo(self, jpeg: bytes) -> None:
        if await self.me() is None:
            raise NotLoggedIn(f"sandbox instance {self.instance} is not logged in")
        self.photo_sha256 = hashlib.sha256(jpeg).hexdigest()  # what "Telegram" now shows

    async def send(self, message: OutgoingMessage) -> SentMessage:
        result = await self._sql.run(partial(self._send, message=message, now=self._clock()))
        if isinstance(result, TelegramError):
            raise result  # raised after the commit, so a consumed fault stays consumed
        return result

    def _send(
        self, conn: Connection, message: OutgoingMessage, now: datetime
    ) -> SentMessage | TelegramError:
        """One send as Telegram would take it, in one transaction (on the SqlRunner)."""
        instance = self.instance
        account = conn.execute(_SEL_ACCOUNT, {"instance": instance}).first()
        if account is None or not account.logged_in:
            return SessionRevoked("AUTH_KEY_UNREGISTERED")
        peer = message.peer
        user = None
        if isinstance(peer, UserPeer):
            params = {"instance": instance, "user_id": peer.user_id}
            user = conn.execute(_SEL_USER, params).first()
        number = user.number if user is not None else None
        fault = self._take_fault(conn, number)
        if fault is not None:
            return fault
        params = {"instance": instance, "random_id": message.random_id}
        duplicate = conn.execute(_SEL_DUPLICATE, params).scalar()
        if duplicate is not None:
            return AlreadySent(duplicate)
        user_id = chat_id = None
        if isinstance(peer, UserPeer):
            if user is None or user.access_hash != peer.access_hash:
                return PeerInvalid("PEER_ID_INVALID")
            user_id = user.user_id
        else:
            params = {"instance": instance, "chat_id": peer.chat_id}
            chat_id = conn.execute(_SEL_GROUP, params).scalar()
            if chat_id is None:
                return PeerInvalid("CHAT_ID_INVALID")
        message_id = int(account.last_message_id) + 1
        conn.execute(_NEXT_ID, {"b_instance": instance, "b_message_id": message_id})
        media = message.media
        conn.execute(
            _INSERT_MESSAGE,
            {
                "instance": instance,
                "message_id": message_id,
                "direction": "out",
                "user_id": user_id,
                "chat_id": chat_id,
                "number": number,
                "kind": media.kind if media else "text",
                "text": message.text,
                "caption": message.caption,
                "filename": media.filename if media else None,
                "mime_type": media.mime_type if media else None,
                "size": len(media.data) if media else None,
                "sha256": hashlib.sha256(media.data).hexdigest() if media else None,
                "data": None,
                "random_id": message.random_id,
                "reply_to": message.reply_to_message_id,
                "contact_number": None,
                "contact_user_id": None,
                "sent_at": now,
            },
        )
        return SentMessage(message_id=message_id, date=now)

    def _take_fault(self, conn: Connection, number: str | None) -> TelegramError | None:
        """Consume one matching injected fault (oldest first)."""
        params = {"instance": self.instance, "number": number}
        fault = conn.execute(_SEL_FAULT, params).first()
        if fault is None:
            return None
        conn.execute(_USE_FAULT, {"fault_id": fault.id})
        if fault.flood_wait_s:
            return FloodWait(fault.flood_wait_s)
        return FAULT_ERRORS[fault.error or "transient"]()

    async def resolve_group(self, group_name: str, admin_number: str) -> GroupPeer:
        async with self._factory() as session:
            group = await session.scalar(
                select(SandboxGroup)
                .where(
                    and_(
                        col(SandboxGroup.instance) == self.instance,
                        col(SandboxGroup.group_name) == group_name,
                        col(SandboxGroup.group_admin) == admin_number,
                    )
                )
                .limit(1)
            )
        if group is None:
            raise GroupNotFound(
                f"the gateway is in no group named {group_name!r} created by {admin_number}"
            )
        return GroupPeer(chat_id=group.chat_id)

    # --- internals ---

    async def _user_by_id(self, session: Any, user_id: int) -> SandboxUserRow | None:
        row: SandboxUserRow | None = await session.scalar(
            select(SandboxUserRow).where(
                and_(
                    col(SandboxUserRow.instance) == self.instance,
                    col(SandboxUserRow.user_id) == user_id,
                )
            )
        )
        return row

    async def _pump_updates(self, on_update: UpdateHandler) -> None:
        async with self._factory() as session:
            account = await session.get(SandboxAccount, self.instance)
            self.consumed_update_id = account.consumed_update_id if account else 0
        while True:
            try:
                handled = await self._deliver_batch(on_update)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "sandbox %s: an update failed; it will be offered again", self.instance
                )
                handled = 0
                await asyncio.sleep(self._poll_interval_s)
            if handled == 0:
                await self._wakeup.wait(self._topic, self._poll_interval_s)

    async def _deliver_batch(self, on_update: UpdateHandler) -> int:
        async with self._factory() as session:
            rows = list(
                await session.scalars(
                    select(SandboxUpdate)
                    .where(
                        and_(
                            col(SandboxUpdate.instance) == self.instance,
                            col(SandboxUpdate.id) > self.consumed_update_id,
                        )
                    )
                    .order_by(col(SandboxUpdate.id))
                    .limit(200)
                )
            )
            updates = [(row.id or 0, await self._to_port(session, row)) for row in rows]
        for update_id, pushed in updates:
            if pushed is not None:
                try:
                    await on_update(pushed)
                except Exception:
                    # Offered again on the next round; one that keeps failing must not hold up
                    # every later update forever, so it is given up after a few tries, loudly.
                    failures = self._failures.get(update_id, 0) + 1
                    self._failures[update_id] = failures
                    if failures < MAX_UPDATE_ATTEMPTS:
                        raise
                    log.error(
                        "sandbox %s: update %s failed %d times; skipped",
                        self.instance,
                        update_id,
                        failures,
                    )
                self._failures.pop(update_id, None)
            async with transaction(self._factory) as session:
                account = await session.get(SandboxAccount, self.instance)
                if account is not None:
                    account.consumed_update_id = update_id
            self.consumed_update_id = update_id
            self._wakeup.notify(f"sandbox-consumed:{self.instance}")
        return len(updates)

    async def _to_port(self, session: Any, row: SandboxUpdate) -> Update | None:
        if row.type == "read":
            return OutboxRead(user_id=row.user_id or 0, max_id=row.max_id or 0)
        msg = await session.scalar(
            select(SandboxMessage).where(
                and_(
                    col(SandboxMessage.instance) == self.instance,
                    col(SandboxMessage.message_id) == row.message_id,
                )
            )
        )
        if msg is None or msg.user_id is None:
            return None
        user = await self._user_by_id(session, msg.user_id)
        if user is None:
            return None
        sender = Sender(
            user_id=user.user_id,
            access_hash=user.access_hash,
            phone=user.number if user.phone_visible else None,
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            is_bot=user.is_bot,
        )
        contact = None
        if msg.contact_number is not None:
            contact = SharedContact(phone=msg.contact_number, user_id=msg.contact_user_id or 0)
        media = None
        if msg.kind in MEDIA_KINDS and msg.data is not None:
            kind: MediaKind = msg.kind
            media = IncomingMedia(kind, msg.data, msg.filename, msg.mime_type)
        return IncomingMessage(
            message_id=msg.message_id,
            date=msg.sent_at,
            sender=sender,
            text=msg.text or msg.caption or "",
            contact=contact,
            media=media,
            reply_to_message_id=msg.reply_to,
        )

    # --- the simulation's controls (admin endpoints) ---

    async def inbound(
        self,
        person: InboundPerson,
        *,
        text: str | None = None,
        contact: dict[str, Any] | None = None,
        media: dict[str, Any] | None = None,
        reply_to: int | None = None,
    ) -> tuple[int, int]:
        """As if `person` wrote to the gateway: (telegram message id, update id)."""
        await self.ensure_account()
        kind = "text"
        data = None
        filename = mime = None
        contact_number = contact_user_id = None
        if contact is not None:
            kind = "contact"
            contact_number = str(contact.get("number") or "").lstrip("+")
            if not contact_number.isdigit():
                raise SandboxInputError("contact.number must be a phone number")
            raw_id = contact.get("user_id")
            contact_user_id = int(raw_id) if raw_id is not None else fake_user_id(contact_number)
        elif media is not None:
            kind = str(media.get("kind") or "")
            if kind not in MEDIA_KINDS:
                raise SandboxInputError(f"media.kind must be one of {', '.join(MEDIA_KINDS)}")
            try:
                data = base64.b64decode(str(media.get("base64") or ""), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise SandboxInputError("media.base64 is not valid base64") from exc
            if not data:
                raise SandboxInputError("media.base64 is empty")
            filename = media.get("filename")
            mime = media.get("mime_type")
        elif not text:
            raise SandboxInputError("give text, contact or media")
        async with transaction(self._factory) as session:
            account = await session.get(SandboxAccount, self.instance)
            assert account is not None
            user = await self._upsert_user(session, person)
            account.last_message_id += 1
            message_id = account.last_message_id
            session.add(
                SandboxMessage(
                    instance=self.instance,
                    message_id=message_id,
                    direction="in",
                    user_id=user.user_id,
                    number=person.number,
                    kind=kind,
                    text=text if kind in ("text", "contact") else None,
                    caption=text if kind in MEDIA_KINDS else None,
                    filename=filename,
                    mime_type=mime,
                    size=len(data) if data else None,
                    sha256=hashlib.sha256(data).hexdigest() if data else None,
                    data=data,
                    reply_to=reply_to,
                    contact_number=contact_number,
                    contact_user_id=contact_user_id,
                    sent_at=self._clock(),
                )
            )
            update = SandboxUpdate(instance=self.instance, type="message", message_id=message_id)
            session.add(update)
            await session.flush()
            update_id = update.id or 0
        self._wakeup.notify(self._topic)
        return message_id, update_id

    async def _upsert_user(self, session: Any, person: InboundPerson) -> SandboxUserRow:
        user: SandboxUserRow | None = await session.scalar(
            select(SandboxUserRow).where(
                and_(
                    col(SandboxUserRow.instance) == self.instance,
                    col(SandboxUserRow.number) == person.number,
                )
            )
        )
        if user is None:
            user_id = fake_user_id(person.number)
            user = SandboxUserRow(
                instance=self.instance,
                user_id=user_id,
                access_hash=fake_access_hash(self.instance, user_id),
                number=person.number,
            )
            session.add(user)
        user.first_name = person.first_name
        user.last_name = person.last_name
        user.username = person.username
        user.phone_visible = person.phone_visible
        user.is_bot = person.is_bot
        return user

    async def wait_consumed(self, update_id: int, timeout_s: float) -> bool:
        """Wait until the gateway has handled update `update_id` (in this process)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.consumed_update_id < update_id:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await self._wakeup.wait(f"sandbox-consumed:{self.instance}", min(remaining, 0.2))
        return True

    async def sent_log(self, number: str | None = None) -> list[dict[str, Any]]:
        async with self._factory() as session:
            query = select(SandboxMessage).where(
                and_(
                    col(SandboxMessage.instance) == self.instance,
                    col(SandboxMessage.direction) == "out",
                )
            )
            if number is not None:
                query = query.where(col(SandboxMessage.number) == number)
            rows = await session.scalars(query.order_by(col(SandboxMessage.message_id)))
            groups = {
                g.chat_id: g.group_name
                for g in await session.scalars(
                    select(SandboxGroup).where(col(SandboxGroup.instance) == self.instance)
                )
            }
            return [
                {
                    "message_id": r.message_id,
                    "number": r.number,
                    "group_name": groups.get(r.chat_id) if r.chat_id else None,
                    "kind": r.kind,
                    "text": r.text,
                    "caption": r.caption,
                    "filename": r.filename,
                    "mime_type": r.mime_type,
                    "size": r.size,
                    "sha256": r.sha256,
                    "random_id": r.random_id,
                    "reply_to": r.reply_to,
                    "sent_at": r.sent_at.isoformat(),
                }
                for r in rows
            ]

    async def mark_read(self, number: str, max_message_id: int) -> int:
        async with transaction(self._factory) as session:
            user: SandboxUserRow | None = await session.scalar(
                select(SandboxUserRow).where(
                    and_(
                        col(SandboxUserRow.instance) == self.instance,
                        col(SandboxUserRow.number) == number,
                    )
                )
            )
            if user is None:
                raise SandboxInputError(f"no sandbox person with number {number}")
            user.max_read_id = max(user.max_read_id, max_message_id)
            update = SandboxUpdate(
                instance=self.instance, type="read", user_id=user.user_id, max_id=user.max_read_id
            )
            session.add(update)
            await session.flush()
            update_id = update.id or 0
        self._wakeup.notify(self._topic)
        return update_id

    async def add_group(self, group_name: str, group_admin: str, members: list[str]) -> int:
        chat_id = _stable_int("chat", self.instance, group_name, group_admin, bits=36)
        async with transaction(self._factory) as session:
            existing = await session.scalar(
                select(SandboxGroup).where(
                    and_(
                        col(SandboxGroup.instance) == self.instance,
                        col(SandboxGroup.chat_id) == chat_id,
                    )
                )
            )
            if existing is None:
                existing = SandboxGroup(
                    instance=self.instance,
                    chat_id=chat_id,
                    group_name=group_name,
                    group_admin=group_admin,
                    members="[]",
                )
                session.add(existing)
            existing.members = orjson.dumps(members).decode()
        return chat_id

    async def add_fault(
        self, *, flood_wait_s: int | None, error: str | None, number: str | None, times: int
    ) -> int:
        if flood_wait_s is None and error is None:
            raise SandboxInputError("give flood_wait_s or error")
        if error is not None and error not in FAULT_ERRORS:
            raise SandboxInputError(f"error must be one of {', '.join(FAULT_ERRORS)}")
        async with transaction(self._factory) as session:
            fault = SandboxFault(
                instance=self.instance,
                flood_wait_s=flood_wait_s,
                error=error,
                number=number,
                times_left=times,
                created_at=self._clock(),
            )
            session.add(fault)
            await session.flush()
            return fault.id or 0


SANDBOX_LOGIN_CODE = "12345"
SANDBOX_QR_TTL_S = 30


class SandboxLogin:
    """The simulated login (SPEC §8): any phone, code 12345, the configured 2FA password, and
    QR tokens that a POST /admin/sandbox/{n}/scan accepts."""

    def __init__(self, sandbox: SandboxTelegram) -> None:
        self._sandbox = sandbox
        self._phone: str | None = None
        self._code_ok = False
        self._qr_url: str | None = None
        self._qr_expires: datetime | None = None
        self.scanned = asyncio.Event()

    async def request_code(self, phone: str) -> LoginStep:
        digits = "".join(ch for ch in phone if ch.isdigit())
        if not 7 <= len(digits) <= 15:
            raise LoginError("phone_invalid", f"{phone!r} is not a phone number")
        self._phone = digits
        self._code_ok = False
        return LoginStep("code_sent")

    async def submit_code(self, code: str) -> LoginStep:
        if self._phone is None:
            raise LoginError("code_expired", "no code was requested: start with the phone")
        if code.strip() != SANDBOX_LOGIN_CODE:
            raise LoginError("code_invalid", "the code is wrong (the sandbox's code is 12345)")
        self._code_ok = True
        if self._sandbox.password:
            return LoginStep("password_needed", password_hint="sandbox_password")
        return await self._done()

    async def submit_password(self, password: str) -> LoginStep:
        if not (self._code_ok or self.scanned.is_set()):
            raise LoginError("login_failed", "enter the code (or scan the QR code) first")
        expected = (self._sandbox.password or "").encode()
        if not hmac.compare_digest(password.encode(), expected):
            raise LoginError("password_invalid", "the 2FA password is wrong")
        return await self._done()

    async def start_qr(self) -> LoginStep:
        self._sandbox._waiting_qr = self
        self.scanned.clear()
        return self._new_token()

    def _new_token(self) -> LoginStep:
        token = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
        self._qr_url = f"tg://login?token={token}"
        self._qr_expires = self._sandbox._clock() + timedelta(seconds=SANDBOX_QR_TTL_S)
        return LoginStep("awaiting_qr", qr_url=self._qr_url, expires_at=self._qr_expires)

    async def wait_qr(self, timeout_s: float) -> LoginStep:
        if self._sandbox._waiting_qr is not self:
            return await self.start_qr()
        try:
            await asyncio.wait_for(self.scanned.wait(), timeout_s)
        except TimeoutError:
            return self._new_token()
        self._sandbox._waiting_qr = None
        if self._sandbox.password:
            return LoginStep("password_needed", password_hint="sandbox_password")
        return await self._done()

    async def _done(self) -> LoginStep:
        phone = self._phone or gateway_phone(self._sandbox.instance)
        account = await self._sandbox.log_in(phone)
        return LoginStep("ready", account=account)

    async def close(self) -> None:
        if self._sandbox._waiting_qr is self:
            self._sandbox._waiting_qr = None
