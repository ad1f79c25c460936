"""Injected faults: what the next matching sends fail with (FloodWait, blocked, deactivated,
privacy, the account's condition...), consumed oldest first."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection

from app.db import transaction
from app.telegram.port import (
    AccountBanned,
    AccountDeactivated,
    AccountFrozen,
    FloodWait,
    PaidMessagesRequired,
    PeerFlood,
    PeerInvalid,
    PremiumRequired,
    PrivacyRestricted,
    SessionRevoked,
    TelegramError,
    TransientError,
    UserBlocked,
    UserDeactivated,
)
from app.telegram.sandbox.state import _F, SandboxInputError, SandboxState
from app.telegram.sandbox.tables import SandboxFault

FAULT_ERRORS: dict[str, Callable[[], TelegramError]] = {
    "blocked": lambda: UserBlocked("USER_IS_BLOCKED"),
    "deactivated": lambda: UserDeactivated("INPUT_USER_DEACTIVATED"),
    "privacy": lambda: PrivacyRestricted("USER_PRIVACY_RESTRICTED"),
    "peer_invalid": lambda: PeerInvalid("PEER_ID_INVALID"),
    "premium_required": lambda: PremiumRequired("PRIVACY_PREMIUM_REQUIRED"),
    "paid_messages_required": lambda: PaidMessagesRequired("ALLOW_PAYMENT_REQUIRED_100"),
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

# Built once: constructing a Core statement costs more than running it (sends are hot).
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


class FaultsMixin(SandboxState):
    """Injecting faults (admin endpoint) and consuming them (a send)."""

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
