"""The sandbox backend: a simulated Telegram network per instance.

It behaves like Telegram where the pipeline can tell: people have stable ids and access hashes,
message ids grow per account, a repeated random_id is refused (RANDOM_ID_DUPLICATE), updates are
pushed in order and replayed after a restart from the stored position (like pts), and faults
(FloodWait, blocked, deactivated, privacy...) can be injected, and what @SpamBot answers about
the account's standing can be set. Its state lives in its own database tables, so it survives
restarts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import heapq
import hmac
import itertools
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, runtime_checkable

import orjson
from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlmodel import col

from app.db import OutageLog, SessionFactory, SqlRunner, retry_while_unavailable, transaction
from app.errors import DatabaseUnavailable
from app.models import (
    SandboxAccount,
    SandboxAuthorization,
    SandboxFault,
    SandboxGroup,
    SandboxMessage,
    SandboxUpdate,
    table_of,
)
from app.models import SandboxUser as SandboxUserRow
from app.queueing import Wakeup, settle
from app.telegram.notices import login_alert_from_notice, login_notice_text
from app.telegram.port import (
    MEDIA_KINDS,
    SERVICE_USER_ID,
    Account,
    AccountBanned,
    AccountDeactivated,
    AccountFrozen,
    AlreadySent,
    Authorization,
    AuthorizationNotFound,
    ConnectionChanged,
    CurrentAuthorization,
    FloodWait,
    GroupNotFound,
    GroupPeer,
    IncomingMedia,
    IncomingMessage,
    LoginAlert,
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
    SessionFence,
    SessionRevoked,
    SharedContact,
    SpamCheck,
    TelegramError,
    TransientError,
    Update,
    UpdateHandler,
    UserBlocked,
    UserDeactivated,
    UserPeer,
)
from app.telegram.spambot import NOT_LIMITED_REPLY, classify

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
_INSERT_MESSAGE = insert(_M)

# The inbound side: people writing to the gateway (admin endpoint) and the update pump.
_UP = table_of(SandboxUpdate)
_INSERT_ACCOUNT = insert(_A)
# Takes a batch's message ids in one statement; the row lock makes it safe on PostgreSQL too,
# where a SELECT then UPDATE could hand the same ids to two transactions.
_TAKE_MESSAGE_IDS = (
    update(_A)
    .where(_A.c.instance == bindparam("b_instance"))
    .values(last_message_id=_A.c.last_message_id + bindparam("b_count"))
    .returning(_A.c.last_message_id)
)
_SEL_USERS = select(
    _U.c.id,
    _U.c.user_id,
    _U.c.number,
    _U.c.first_name,
    _U.c.last_name,
    _U.c.username,
    _U.c.phone_visible,
    _U.c.is_bot,
).where(_U.c.instance == bindparam("instance"), _U.c.number.in_(bindparam("numbers")))
_INSERT_USER = insert(_U)
_UPDATE_USER = (
    update(_U)
    .where(_U.c.id == bindparam("b_id"))
    .values(
        first_name=bindparam("b_first"),
        last_name=bindparam("b_last"),
        username=bindparam("b_username"),
        phone_visible=bindparam("b_visible"),
        is_bot=bindparam("b_bot"),
    )
)
# sort_by_parameter_order: the ids come back in the order of the rows given (one per request).
_INSERT_UPDATES = insert(_UP).returning(_UP.c.id, sort_by_parameter_order=True)
_SET_CONSUMED = (
    update(_A)
    .where(_A.c.instance == bindparam("b_instance"))
    .values(consumed_update_id=bindparam("b_consumed"))
)
_SEL_CONSUMED = select(_A.c.consumed_update_id).where(_A.c.instance == bindparam("instance"))
# The next updates with everything the port needs to show them (the message and its sender):
# one query per batch instead of three per update.
_SEL_UPDATES = (
    select(
        _UP.c.id,
        _UP.c.type,
        _UP.c.user_id.label("read_user_id"),
        _UP.c.max_id,
        _M.c.message_id,
        _M.c.kind,
        _M.c.text,
        _M.c.caption,
        _M.c.filename,
        _M.c.mime_type,
        _M.c.data,
        _M.c.reply_to,
        _M.c.contact_number,
        _M.c.contact_user_id,
        _M.c.sent_at,
        _U.c.user_id.label("sender_id"),
        _U.c.access_hash,
        _U.c.number,
        _U.c.phone_visible,
        _U.c.first_name,
        _U.c.last_name,
        _U.c.username,
        _U.c.is_bot,
    )
    .select_from(
        _UP.outerjoin(
            _M, and_(_M.c.instance == _UP.c.instance, _M.c.message_id == _UP.c.message_id)
        ).outerjoin(_U, and_(_U.c.instance == _M.c.instance, _U.c.user_id == _M.c.user_id))
    )
    .where(_UP.c.instance == bindparam("instance"), _UP.c.id > bindparam("after"))
    .order_by(_UP.c.id)
    .limit(bindparam("limit"))
)
# Updates the pump reads at once; inbound requests written in one transaction at most.
UPDATE_BATCH = 200
# Telegram's longest message.
SPAMBOT_REPLY_MAX_CHARS = 4096
INBOUND_BATCH = 256

FAULT_ERRORS: dict[str, Callable[[], TelegramError]] = {
    "blocked": lambda: UserBlocked("USER_IS_BLOCKED"),
    "deactivated": lambda: UserDeactivated("INPUT_USER_DEACTIVATED"),
    "privacy": lambda: PrivacyRestricted("USER_PRIVACY_RESTRICTED"),
    "peer_invalid": lambda: PeerInvalid("PEER_ID_INVALID"),
    "peer_flood": lambda: PeerFlood("PEER_FLOOD"),
    "transient": lambda: TransientError("RPC_CALL_FAIL"),
    "revoked": lambda: SessionRevoked("AUTH_KEY_UNREGISTERED"),
    # The account's condition (instance statuses frozen, banned, deactivated).
    "account_frozen": lambda: AccountFrozen(
        "Telegram froze this account (FROZEN_METHOD_INVALID): it can log in but not send;"
        " appeal through @SpamBot"
    ),
    "account_banned": lambda: AccountBanned("Telegram banned this account (USER_DEACTIVATED_BAN)"),
    "account_deleted": lambda: AccountDeactivated("the account was deleted (USER_DEACTIVATED)"),
}


@runtime_checkable
class MessageBatchHandler(Protocol):
    """An update handler that also takes several private messages at once
    (inbound/processor.py): the pump hands it each run of consecutive messages it reads."""

    async def on_messages(self, messages: Sequence[IncomingMessage]) -> int:
        """Handle the messages in order; how many of the leading ones were handled (the pump
        offers the next to the handler alone)."""
        ...


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


# Telegram's service account's number; no real phone number is this short, so no sandbox
# person (whose numbers are validated) can have it.
SERVICE_NUMBER = "42777"


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


@dataclass
class _Inbound:
    """A message a person writes, waiting for its batch (see `SandboxTelegram.inbound`)."""

    person: InboundPerson
    row: dict[str, Any]  # its sandbox_message columns, less those the batch assigns
    future: asyncio.Future[tuple[int, int]]


def _inbound_row(
    instance: int,
    person: InboundPerson,
    text: str | None,
    contact: dict[str, Any] | None,
    media: dict[str, Any] | None,
    reply_to: int | None,
) -> dict[str, Any]:
    """Check an inbound message (SandboxInputError) and give its row; checked before it joins
    a batch, so that a malformed request fails alone and writes nothing."""
    kind = "text"
    data = None
    filename = mime = None
    contact_number = contact_user_id = None
    if contact is not None:
        kind = "contact"
        contact_number = str(contact.get("number") or "").lstrip("+")
        # ASCII digits only (isdigit() alone takes other scripts' digits), as long as the
        # sandbox_message.contact_number column allows.
        if not (contact_number.isascii() and contact_number.isdigit()) or len(contact_number) > 20:
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
    return {
        "instance": instance,
        "direction": "in",
        "chat_id": None,
        "number": person.number,
        "kind": kind,
        "text": text if kind in ("text", "contact") else None,
        "caption": text if kind in MEDIA_KINDS else None,
        "filename": filename,
        "mime_type": mime,
        "size": len(data) if data else None,
        "sha256": hashlib.sha256(data).hexdigest() if data else None,
        "data": data,
        "random_id": None,
        "reply_to": reply_to,
        "contact_number": contact_number,
        "contact_user_id": contact_user_id,
    }


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
        self._fence: SessionFence | None = None
        self._failures: dict[int, int] = {}
        self._outage = OutageLog(log, f"sandbox {instance}")
        # How far the gateway got in the update stream: in memory as each update is handled,
        # in the database (`_saved_update_id`) with the next batch's read.
        self.consumed_update_id = 0
        self._saved_update_id = 0
        # wait_consumed's callers, by the update id they wait for (a heap).
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiting_order = itertools.count()
        # inbound() requests waiting for the next batch, and the task that writes them.
        self._inbox: list[_Inbound] = []
        self._inbox_writer: asyncio.Task[None] | None = None

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

    async def start(self, on_update: UpdateHandler, *, fence: SessionFence | None = None) -> None:
        await self.ensure_account()
        self._fence = fence
        self._on_update = on_update
        self._pump = asyncio.create_task(self._pump_updates(on_update), name=self._topic)

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
            await self._save_position()  # fewer replays at the next start

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

    # --- logging in and out (any phone, code 12345, the configured password) ---

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
            if self._fence is not None:
                await self._fence.guard(session)
            account = await session.get(SandboxAccount, self.instance)
            if account is None:
                account = SandboxAccount(instance=self.instance, phone=phone, user_id=0)
                session.add(account)
            account.phone = phone
            account.user_id = fake_user_id(phone)
            account.logged_in = True
            await self._end_own_authorization(session)  # a new login is a new session
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
            if self._fence is not None:
                await self._fence.guard(session)
            account = await session.get(SandboxAccount, self.instance)
            if account is not None:
                account.logged_in = False
            await self._end_own_authorization(session)
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

    # --- sessions: account.getAuthorizations / resetAuthorization, simulated ---

    async def list_authorizations(self) -> list[Authorization]:
        async with transaction(self._factory) as session:
            await self._logged_in_account(session)
            own = await self._own_authorization(session)
            own.active_at = self._clock()
            rows = await session.scalars(
                select(SandboxAuthorization)
                .where(
                    and_(
                        col(SandboxAuthorization.instance) == self.instance,
                        col(SandboxAuthorization.ended_at).is_(None),
                    )
                )
                .order_by(
                    col(SandboxAuthorization.current).desc(),
                    col(SandboxAuthorization.created_at).desc(),
                    col(SandboxAuthorization.id).desc(),
                )
            )
            return [_authorization(row) for row in rows]

    async def end_authorization(self, hash: int) -> None:
        async with transaction(self._factory) as session:
            await self._logged_in_account(session)
            own = await self._own_authorization(session)
            if hash == own.hash:
                raise CurrentAuthorization("this is the gateway's own session: log out instead")
            row = await session.scalar(
                select(SandboxAuthorization).where(
                    and_(
                        col(SandboxAuthorization.instance) == self.instance,
                        col(SandboxAuthorization.hash) == hash,
                        col(SandboxAuthorization.ended_at).is_(None),
                    )
                )
            )
            if row is None:
                raise AuthorizationNotFound("HASH_INVALID")
            row.ended_at = self._clock()

    # --- the account's standing: @SpamBot, simulated ---

    async def check_restrictions(self) -> SpamCheck:
        """What the simulated @SpamBot answers "/start" (set_spambot_reply), read as on
        Telegram: an unknown text raises SpamBotUnclear."""
        async with self._factory() as session:
            account = await self._logged_in_account(session)
            reply = account.spambot_reply
        return classify(reply if reply is not None else NOT_LIMITED_REPLY)

    async def set_spambot_reply(self, reply: str | None) -> str:
        """Make `reply` @SpamBot's answer from now on (None: the "no limits" text)."""
        if reply is not None:
            if not reply.strip():
                raise SandboxInputError("'reply' must not be empty")
            if len(reply) > SPAMBOT_REPLY_MAX_CHARS:
                raise SandboxInputError(
                    f"'reply' may have at most {SPAMBOT_REPLY_MAX_CHARS} characters"
                )
        async with transaction(self._factory) as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is None:
                phone = gateway_phone(self.instance)
                account = SandboxAccount(
                    instance=self.instance, phone=phone, user_id=fake_user_id(phone)
                )
                session.add(account)
            account.spambot_reply = reply
        return reply if reply is not None else NOT_LIMITED_REPLY

    async def _logged_in_account(self, session: Any) -> SandboxAccount:
        account: SandboxAccount | None = await session.get(SandboxAccount, self.instance)
        if account is None or not account.logged_in:
            raise NotLoggedIn(f"sandbox instance {self.instance} is not logged in")
        return account

    async def _own_authorization(self, session: Any) -> SandboxAuthorization:
        """The gateway's session, made when first asked for (one per login)."""
        own: SandboxAuthorization | None = await session.scalar(
            select(SandboxAuthorization).where(
                and_(
                    col(SandboxAuthorization.instance) == self.instance,
                    col(SandboxAuthorization.current).is_(True),
                    col(SandboxAuthorization.ended_at).is_(None),
                )
            )
        )
        if own is None:
            now = self._clock()
            own = SandboxAuthorization(
                instance=self.instance,
                hash=_new_authorization_hash(),
                current=True,
                device_model="tgw gateway",
                platform="Linux",
                system_version="Linux",
                app_name="tgw",
                app_version="tgw",
                ip="127.0.0.1",
                location="Sandbox",
                created_at=now,
                active_at=now,
            )
            session.add(own)
            await session.flush()
        return own

    async def _end_own_authorization(self, session: Any) -> None:
        await session.execute(
            update(SandboxAuthorization)
            .where(
                and_(
                    col(SandboxAuthorization.instance) == self.instance,
                    col(SandboxAuthorization.current).is_(True),
                    col(SandboxAuthorization.ended_at).is_(None),
                )
            )
            .values(ended_at=self._clock())
        )

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
        # Atomic (row lock on PostgreSQL): an inbound batch may take ids at the same time.
        message_id = int(
            conn.execute(_TAKE_MESSAGE_IDS, {"b_instance": instance, "b_count": 1}).scalar_one()
        )
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
        where = [
            col(SandboxGroup.instance) == self.instance,
            col(SandboxGroup.group_name) == group_name,
        ]
        if admin_number:
            where.append(col(SandboxGroup.group_admin) == admin_number)
        async with self._factory() as session:
            groups = list(await session.scalars(select(SandboxGroup).where(and_(*where)).limit(2)))
        if not groups:
            creator = f" created by {admin_number}" if admin_number else ""
            raise GroupNotFound(f"the gateway is in no group named {group_name!r}{creator}")
        if len(groups) > 1:  # only without a creator's number: the title is not unique
            raise GroupNotFound(
                f"the gateway is in several groups named {group_name!r}: give group_admin"
            )
        return GroupPeer(chat_id=groups[0].chat_id)

    # --- internals: the update pump ---

    async def _pump_updates(self, on_update: UpdateHandler) -> None:
        """Offers the updates in order until cancelled. A database outage pauses it: the update
        that could not be handled is offered again once the database is back (an outage never
        counts as one of an update's failed tries, after which it would be skipped)."""
        position = await retry_while_unavailable(
            partial(self._sql.run, self._read_position), self._outage, self._poll_interval_s
        )
        self._saved_update_id = position
        self._advance(position)  # also answers any request that waited for what was done
        while True:
            try:
                handled = await self._deliver_batch(on_update)
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable as exc:
                self._outage.failed(exc)
                handled = 0
                await asyncio.sleep(self._poll_interval_s)
            except Exception:
                log.exception(
                    "sandbox %s: an update failed; it will be offered again", self.instance
                )
                handled = 0
                await asyncio.sleep(self._poll_interval_s)
            else:
                self._outage.ok()
            if handled < UPDATE_BATCH:
                # Caught up as of that read. What this process wrote since has woken the topic
                # (the wait then returns at once), so no second read just to find nothing;
                # other processes' writes are found at the next poll, as when idle.
                await self._wakeup.wait(self._topic, self._poll_interval_s)

    def _read_position(self, conn: Connection) -> int:
        return int(conn.execute(_SEL_CONSUMED, {"instance": self.instance}).scalar() or 0)

    async def _deliver_batch(self, on_update: UpdateHandler) -> int:
        """Offer the next updates in order; how many were read (0: none is waiting)."""
        position = self.consumed_update_id
        save = position > self._saved_update_id
        rows = await self._sql.run(partial(self._next_updates, position=position, save=save))
        self._saved_update_id = max(self._saved_update_id, position)
        logins = await self._login_alerts(rows)  # {} unless the batch announces a login
        updates = [(int(row.id), self._to_port(row, logins)) for row in rows]
        many = on_update if isinstance(on_update, MessageBatchHandler) else None
        index = 0
        while index < len(updates):
            if many is not None:
                run: list[tuple[int, IncomingMessage]] = []
                for update_id, pushed in updates[index:]:
                    if not isinstance(pushed, IncomingMessage):
                        break
                    run.append((update_id, pushed))
                if len(run) > 1:
                    handled = await self._offer_many(many, run)
                    index += handled
                    if handled == len(run):
                        continue
                    # The next one goes alone (below): it may need the dialogue, or it may be
                    # the one that fails, and its failures are counted as one update's.
            update_id, pushed = updates[index]
            if pushed is not None:
                try:
                    await on_update(pushed)
                except DatabaseUnavailable:
                    raise  # not the update's fault: offered again, not counted
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
            self._advance(update_id)
            index += 1
        return len(updates)

    async def _offer_many(
        self, many: MessageBatchHandler, run: list[tuple[int, IncomingMessage]]
    ) -> int:
        """Hand consecutive messages to the handler at once; how many it handled."""
        try:
            handled = await many.on_messages([pushed for _, pushed in run])
        except DatabaseUnavailable:
            raise
        except Exception:
            log.warning(
                "sandbox %s: a batch of %d updates failed; offered one by one",
                self.instance,
                len(run),
                exc_info=True,
            )
            return 0
        for update_id, _ in run[:handled]:
            self._failures.pop(update_id, None)
            self._advance(update_id)
        return handled

    def _next_updates(self, conn: Connection, position: int, save: bool) -> list[Row[Any]]:
        """Record the position reached (the previous batch's updates) and read the next batch,
        in one transaction.

        The position is stored a batch late rather than after every update: an update handled
        but not yet recorded when the process dies is offered again at the next start, which
        the handler takes as a replay (it is idempotent, keyed by the Telegram message id),
        exactly as one handled just before a crash always was.
        """
        if save:
            self._record_position(conn, position)
        params = {"instance": self.instance, "after": position, "limit": UPDATE_BATCH}
        return list(conn.execute(_SEL_UPDATES, params))

    def _record_position(self, conn: Connection, position: int) -> None:
        conn.execute(_SET_CONSUMED, {"b_instance": self.instance, "b_consumed": position})

    async def _save_position(self) -> None:
        position = self.consumed_update_id
        if position <= self._saved_update_id:
            return
        try:
            await self._sql.run(partial(self._record_position, position=position))
        except Exception:  # replayed at the next start: harmless, see _next_updates
            log.warning("sandbox %s: could not record the update position", self.instance)
            return
        self._saved_update_id = position

    async def _login_alerts(self, rows: Sequence[Row[Any]]) -> dict[int, LoginAlert]:
        """The login updates of a batch as port alerts, by update id (one query, when any)."""
        ids = [int(row.id) for row in rows if row.type == "login"]
        if not ids:
            return {}
        return await self._sql.run(partial(self._read_logins, update_ids=ids))

    def _read_logins(self, conn: Connection, update_ids: list[int]) -> dict[int, LoginAlert]:
        auth = table_of(SandboxAuthorization)
        found = conn.execute(
            select(auth).where(auth.c.instance == self.instance, auth.c.update_id.in_(update_ids))
        )
        return {
            int(row.update_id): LoginAlert(
                source="update",
                date=row.created_at,
                hash=int(row.hash),
                device=row.device_model,
                location=row.location,
                unconfirmed=True,
            )
            for row in found
        }

    def _advance(self, update_id: int) -> None:
        """Update `update_id` is handled: answer the requests that wait for it."""
        self.consumed_update_id = update_id
        waiting = self._waiting
        while waiting and waiting[0][0] <= update_id:
            future = heapq.heappop(waiting)[2]
            if not future.done():
                future.set_result(None)

    def _to_port(self, row: Row[Any], logins: dict[int, LoginAlert] | None = None) -> Update | None:
        """An update as the port shows it (a row of `_SEL_UPDATES`); None when its message or
        sender is gone."""
        if row.type == "read":
            return OutboxRead(user_id=row.read_user_id or 0, max_id=row.max_id or 0)
        if row.type == "login":
            return (logins or {}).get(int(row.id))
        if row.sender_id is None:
            return None
        if row.sender_id == SERVICE_USER_ID:
            # Telegram's "New login" notice comes as the alert, never as a message.
            notice = login_alert_from_notice(row.text or "", row.sent_at, int(row.message_id))
            if notice is not None:
                return notice
        sender = Sender(
            user_id=row.sender_id,
            access_hash=row.access_hash,
            phone=row.number if row.phone_visible else None,
            first_name=row.first_name,
            last_name=row.last_name,
            username=row.username,
            is_bot=bool(row.is_bot),
        )
        contact = None
        if row.contact_number is not None:
            contact = SharedContact(phone=row.contact_number, user_id=row.contact_user_id or 0)
        media = None
        if row.kind in MEDIA_KINDS and row.data is not None:
            kind: MediaKind = row.kind
            media = IncomingMedia(kind, row.data, row.filename, row.mime_type)
        return IncomingMessage(
            message_id=row.message_id,
            date=row.sent_at,
            sender=sender,
            text=row.text or row.caption or "",
            contact=contact,
            media=media,
            reply_to_message_id=row.reply_to,
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
        """As if `person` wrote to the gateway: (telegram message id, update id).

        People writing at the same time are written together (group commit, as
        outbound/accept.py does for sends): requests that arrive while a batch is being written
        join the next one, and a batch is one transaction of prebuilt statements on the
        SqlRunner. Each caller is answered once its batch has committed.
        """
        row = _inbound_row(self.instance, person, text, contact, media, reply_to)
        future: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._inbox.append(_Inbound(person, row, future))
        if self._inbox_writer is None or self._inbox_writer.done():
            self._inbox_writer = asyncio.create_task(self._write_inbound())
        # shield: a caller that goes away must not cancel the batch the others wait on
        return await asyncio.shield(future)

    async def _write_inbound(self) -> None:
        while self._inbox:
            batch = self._inbox[:INBOUND_BATCH]
            del self._inbox[:INBOUND_BATCH]
            now = self._clock()
            outcomes: list[tuple[int, int] | BaseException]
            try:
                outcomes = list(
                    await self._sql.run(partial(self._store_inbound, batch=batch, now=now))
                )
            except Exception as exc:
                outcomes = [exc]
                if len(batch) > 1:
                    # One bad request (a value the database refuses) must not fail the others
                    # of its batch: written one by one, only that one fails.
                    outcomes = [await self._store_alone(item, now) for item in batch]
            if any(not isinstance(outcome, BaseException) for outcome in outcomes):
                self._wakeup.notify(self._topic)  # the pump looks now, not at its next poll
            settle((item.future for item in batch), outcomes)

    async def _store_alone(self, item: _Inbound, now: datetime) -> tuple[int, int] | BaseException:
        try:
            return (await self._sql.run(partial(self._store_inbound, batch=[item], now=now)))[0]
        except Exception as exc:
            return exc

    def _store_inbound(
        self, conn: Connection, batch: list[_Inbound], now: datetime
    ) -> list[tuple[int, int]]:
        """A batch of inbound messages in one transaction (on the SqlRunner): the people, the
        messages with their ids, and one update each, in arrival order."""
        instance = self.instance
        params = {"b_instance": instance, "b_count": len(batch)}
        last_id = conn.execute(_TAKE_MESSAGE_IDS, params).scalar()
        if last_id is None:  # the account is made on start(); a request may come first
            phone = gateway_phone(instance)
            conn.execute(
                _INSERT_ACCOUNT,
                {
                    "instance": instance,
                    "phone": phone,
                    "user_id": fake_user_id(phone),
                    "last_message_id": len(batch),
                },
            )
            last_id = len(batch)
        first_id = int(last_id) - len(batch) + 1
        user_ids = self._upsert_users(conn, [item.person for item in batch])
        messages = [
            {
                **item.row,
                "message_id": first_id + index,
                "user_id": user_ids[item.person.number],
                "sent_at": now,
            }
            for index, item in enumerate(batch)
        ]
        conn.execute(_INSERT_MESSAGE, messages)
        updates = [
            {"instance": instance, "type": "message", "message_id": m["message_id"]}
            for m in messages
        ]
        update_ids = conn.execute(_INSERT_UPDATES, updates).scalars().all()
        return [(int(m["message_id"]), int(u)) for m, u in zip(messages, update_ids, strict=True)]

    def _upsert_users(self, conn: Connection, people: list[InboundPerson]) -> dict[str, int]:
        """Create or refresh the people of a batch; their user ids by number.

        A person who writes twice in one batch ends with the names of the later message, as
        if the two had been written one after the other.
        """
        instance = self.instance
        latest = {person.number: person for person in people}
        found = {
            row.number: row
            for row in conn.execute(_SEL_USERS, {"instance": instance, "numbers": list(latest)})
        }
        user_ids: dict[str, int] = {}
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for number, person in latest.items():
            names = (
                person.first_name,
                person.last_name,
                person.username,
                person.phone_visible,
                person.is_bot,
            )
            row = found.get(number)
            if row is None:
                user_id = fake_user_id(number)
                new.append(
                    {
                        "instance": instance,
                        "user_id": user_id,
                        "access_hash": fake_access_hash(instance, user_id),
                        "number": number,
                        "first_name": person.first_name,
                        "last_name": person.last_name,
                        "username": person.username,
                        "phone_visible": person.phone_visible,
                        "is_bot": person.is_bot,
                    }
                )
            else:
                user_id = int(row.user_id)
                stored = (
                    row.first_name,
                    row.last_name,
                    row.username,
                    bool(row.phone_visible),
                    bool(row.is_bot),
                )
                if stored != names:
                    changed.append(
                        {
                            "b_id": row.id,
                            "b_first": person.first_name,
                            "b_last": person.last_name,
                            "b_username": person.username,
                            "b_visible": person.phone_visible,
                            "b_bot": person.is_bot,
                        }
                    )
            user_ids[number] = user_id
        if new:
            conn.execute(_INSERT_USER, new)
        if changed:
            conn.execute(_UPDATE_USER, changed)
        return user_ids

    async def wait_consumed(self, update_id: int, timeout_s: float) -> bool:
        """Wait until the gateway has handled update `update_id` (in this process)."""
        if self.consumed_update_id >= update_id:
            return True
        if len(self._waiting) > 4096:
            # Requests that gave up (no pump runs here: another process holds the instance).
            self._waiting = [entry for entry in self._waiting if not entry[2].done()]
            heapq.heapify(self._waiting)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (update_id, next(self._waiting_order), future))
        try:
            async with asyncio.timeout(timeout_s):
                await future
        except TimeoutError:
            return False
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

    async def login_from_device(self, device: str, location: str) -> tuple[int, int]:
        """Someone logs in to the account from another device: a new session, announced as
        Telegram does, with updateNewAuthorization and then the "New login" notice of 777000.
        (the new session's hash, the update id of the notice)."""
        now = self._clock()
        async with transaction(self._factory) as session:
            account = await self._logged_in_account(session)
            await self._own_authorization(session)
            announce = SandboxUpdate(instance=self.instance, type="login")
            session.add(announce)
            await session.flush()
            new = SandboxAuthorization(
                instance=self.instance,
                hash=_new_authorization_hash(),
                device_model=device,
                app_name="Telegram",
                official_app=True,
                location=location,
                created_at=now,
                active_at=now,
                update_id=announce.id,
            )
            session.add(new)
            await self._service_user(session)
            params = {"b_instance": self.instance, "b_count": 1}
            message_id = int((await session.execute(_TAKE_MESSAGE_IDS, params)).scalar_one())
            text = login_notice_text(account.first_name, now, device, location)
            session.add(
                SandboxMessage(
                    instance=self.instance,
                    message_id=message_id,
                    direction="in",
                    user_id=SERVICE_USER_ID,
                    kind="text",
                    text=text,
                    sent_at=now,
                )
            )
            notice = SandboxUpdate(instance=self.instance, type="message", message_id=message_id)
            session.add(notice)
            await session.flush()
            result = (new.hash, notice.id or 0)
        self._wakeup.notify(self._topic)
        return result

    async def _service_user(self, session: Any) -> None:
        """Telegram's service account (777000), which writes the notices."""
        found = await session.scalar(
            select(SandboxUserRow).where(
                and_(
                    col(SandboxUserRow.instance) == self.instance,
                    col(SandboxUserRow.user_id) == SERVICE_USER_ID,
                )
            )
        )
        if found is None:
            session.add(
                SandboxUserRow(
                    instance=self.instance,
                    user_id=SERVICE_USER_ID,
                    access_hash=fake_access_hash(self.instance, SERVICE_USER_ID),
                    number=SERVICE_NUMBER,
                    first_name="Telegram",
                    phone_visible=False,
                )
            )
            await session.flush()


def _new_authorization_hash() -> int:
    return secrets.randbits(62) + 1


def _authorization(row: SandboxAuthorization) -> Authorization:
    return Authorization(
        hash=row.hash,
        current=row.current,
        device_model=row.device_model,
        platform=row.platform,
        system_version=row.system_version,
        app_name=row.app_name,
        app_version=row.app_version,
        ip=row.ip,
        country=row.location,
        region="",
        date_created=row.created_at,
        date_active=row.active_at,
        official_app=row.official_app,
    )


SANDBOX_LOGIN_CODE = "12345"
SANDBOX_QR_TTL_S = 30


class SandboxLogin:
    """The simulated login: any phone, code 12345, the configured 2FA password, and
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
