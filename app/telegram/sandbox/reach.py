"""Reachability of people in the simulated network: who takes messages only from Premium
accounts, only paid ones, or not at all (a deleted account), set with
POST /admin/sandbox/{n}/people; the port's `reachability` reports it, and sends to them fail
as Telegram's would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlmodel import col

from app.db import transaction
from app.models import table_of
from app.telegram.port import (
    PaidMessagesRequired,
    PremiumRequired,
    Reachability,
    TelegramError,
    UserDeactivated,
    UserPeer,
)
from app.telegram.sandbox.state import SandboxState
from app.telegram.sandbox.tables import SandboxPerson
from app.telegram.sandbox.tables import SandboxUser as SandboxUserRow

# What a person may require of those who write to them (SandboxPerson.requires).
REQUIREMENTS = ("premium", "paid_messages")
# What a paid message costs when the control names no price, in Telegram Stars.
DEFAULT_STARS = 100

_P = table_of(SandboxPerson)
# Built once: a send looks its recipient up here (sends are hot).
_SEL_PERSON = select(_P.c.requires, _P.c.stars, _P.c.deactivated).where(
    _P.c.instance == bindparam("instance"), _P.c.number == bindparam("number")
)


@dataclass(frozen=True)
class PersonRules:
    """How one sandbox person takes messages, as the control set it."""

    number: str
    requires: str | None
    stars: int | None
    deactivated: bool


def person_refusal(conn: Connection, instance: int, number: str | None) -> TelegramError | None:
    """The error Telegram gives a send to this person, if they refuse it (in the send's
    transaction)."""
    if number is None:
        return None
    person = conn.execute(_SEL_PERSON, {"instance": instance, "number": number}).first()
    if person is None:
        return None
    if person.deactivated:
        return UserDeactivated("INPUT_USER_DEACTIVATED")
    if person.requires == "premium":
        return PremiumRequired("PRIVACY_PREMIUM_REQUIRED")
    if person.requires == "paid_messages":
        return PaidMessagesRequired(f"ALLOW_PAYMENT_REQUIRED_{person.stars or DEFAULT_STARS}")
    return None


def _reachability(person: SandboxPerson | None) -> Reachability:
    if person is None:
        return "ok"
    if person.deactivated:
        return "deactivated"
    if person.requires == "premium":
        return "premium_required"
    if person.requires == "paid_messages":
        return "paid_messages_required"
    return "ok"


class ReachMixin(SandboxState):
    """The port's reachability, and the control that decides it."""

    async def set_person(
        self, number: str, *, requires: str | None, stars: int | None, deactivated: bool
    ) -> PersonRules:
        """How `number` takes messages from now on (requires None and not deactivated: as
        anyone does)."""
        if requires is not None and requires not in REQUIREMENTS:
            raise ValueError(f"requires must be one of {', '.join(REQUIREMENTS)} or null")
        stars = (stars or DEFAULT_STARS) if requires == "paid_messages" else None
        async with transaction(self._factory) as session:
            row = await session.scalar(
                select(SandboxPerson).where(
                    col(SandboxPerson.instance) == self.instance,
                    col(SandboxPerson.number) == number,
                )
            )
            if row is None:
                row = SandboxPerson(instance=self.instance, number=number)
                session.add(row)
            row.requires, row.stars, row.deactivated = requires, stars, deactivated
        return PersonRules(number, requires, stars, deactivated)

    async def reachability(self, peers: Sequence[UserPeer]) -> dict[int, Reachability]:
        """As users.getRequirementsToContact (and users.getUsers' `deleted`) tell it: a person
        the account cannot address (unknown id, wrong access hash) is "unknown"."""
        ids = [peer.user_id for peer in peers]
        async with self._factory() as session:
            await self._logged_in_account(session)  # NotLoggedIn, as Telegram's 401
            users = {
                u.user_id: u
                for u in await session.scalars(
                    select(SandboxUserRow).where(
                        col(SandboxUserRow.instance) == self.instance,
                        col(SandboxUserRow.user_id).in_(ids),
                    )
                )
            }
            numbers = [u.number for u in users.values()]
            people = {
                p.number: p
                for p in await session.scalars(
                    select(SandboxPerson).where(
                        col(SandboxPerson.instance) == self.instance,
                        col(SandboxPerson.number).in_(numbers),
                    )
                )
            }
        answers: dict[int, Reachability] = {}
        for peer in peers:
            user = users.get(peer.user_id)
            if user is None or user.access_hash != peer.access_hash:
                answers[peer.user_id] = "unknown"
            else:
                answers[peer.user_id] = _reachability(people.get(user.number))
        return answers
