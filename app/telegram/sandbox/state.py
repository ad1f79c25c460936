"""The simulated network's shared state: the account's identity, the tables' handles and the
statements several parts use, and the base class every part of the backend builds on.

People have stable ids and access hashes, derived from their numbers, so the same number is the
same person after a restart and in every test.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update

from app.db import SessionFactory, SqlRunner, transaction
from app.models import table_of
from app.queueing import Wakeup
from app.telegram.port import NotLoggedIn, SessionFence, UpdateHandler
from app.telegram.sandbox.tables import (
    SandboxAccount,
    SandboxFault,
    SandboxGroup,
    SandboxMessage,
    SandboxUpdate,
)
from app.telegram.sandbox.tables import SandboxUser as SandboxUserRow

# One logger for the whole sandbox, named as before it became a package: log lines and any
# logging configuration keep naming it `app.telegram.sandbox`.
log = logging.getLogger("app.telegram.sandbox")

_A = table_of(SandboxAccount)
_U = table_of(SandboxUserRow)
_M = table_of(SandboxMessage)
_G = table_of(SandboxGroup)
_F = table_of(SandboxFault)
_UP = table_of(SandboxUpdate)

# Built once: constructing a Core statement costs more than running it (sends are hot).
_INSERT_MESSAGE = insert(_M)
# Takes a batch's message ids in one statement; the row lock makes it safe on PostgreSQL too,
# where a SELECT then UPDATE could hand the same ids to two transactions.
_TAKE_MESSAGE_IDS = (
    update(_A)
    .where(_A.c.instance == bindparam("b_instance"))
    .values(last_message_id=_A.c.last_message_id + bindparam("b_count"))
    .returning(_A.c.last_message_id)
)


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


class SandboxState:
    """What every part of a sandbox instance shares; SandboxTelegram sets it in __init__.

    The parts (sending, faults, the pump, inbound, logins, sessions, profile, @SpamBot) are
    mixins over this class, so each one's code reads and types the same attributes.
    """

    instance: int
    _factory: SessionFactory
    _sql: SqlRunner
    _wakeup: Wakeup
    _clock: Callable[[], datetime]
    _fence: SessionFence | None
    _on_update: UpdateHandler | None

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

    async def _logged_in_account(self, session: Any) -> SandboxAccount:
        account: SandboxAccount | None = await session.get(SandboxAccount, self.instance)
        if account is None or not account.logged_in:
            raise NotLoggedIn(f"sandbox instance {self.instance} is not logged in")
        return account
