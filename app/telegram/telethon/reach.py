"""Whether people can be messaged: users.getRequirementsToContact (Premium-only and paid
messages) and users.getUsers (`deleted`: the account is gone), for a batch of people at once.

users.getRequirementsToContact arrived with layer 200; Telethon 1.39 (layer 199) lacks it and
has its predecessor, users.getIsPremiumRequiredToContact (Premium only, no paid messages).
Whichever the installed Telethon has is used; with neither, only deleted accounts are told.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from telethon import functions
from telethon.tl import types

from app.telegram import port
from app.telegram.telethon import limits
from app.telegram.telethon.core import BackendCore
from app.telegram.telethon.errors import to_port_error

# How many people one call asks about (the API asks about at most 100 at once as well).
BATCH = 100

# Feature checks, not version checks: see the module's docstring.
_REQUIREMENTS = getattr(functions.users, "GetRequirementsToContactRequest", None)
_PREMIUM_REQUIRED = getattr(functions.users, "GetIsPremiumRequiredToContactRequest", None)


def _requirement(answer: Any) -> port.Reachability:
    """One element of users.getRequirementsToContact's answer."""
    name = type(answer).__name__
    if name == "RequirementToContactPremium":
        return "premium_required"
    if name == "RequirementToContactPaidMessages":
        return "paid_messages_required"
    if name == "RequirementToContactEmpty":
        return "ok"
    return "unknown"


class ReachMixin(BackendCore):
    """TelethonBackend's reachability."""

    # One question at a time per account: checks asked for at once wait their turn (within
    # the timeout) rather than reach Telegram together. Made on first use.
    _reach_turn: asyncio.Lock | None = None

    async def reachability(self, peers: Sequence[port.UserPeer]) -> dict[int, port.Reachability]:
        client = self._live_client()
        if self._reach_turn is None:
            self._reach_turn = asyncio.Lock()
        try:
            return await asyncio.wait_for(
                self._one_at_a_time(self._reach_turn, client, peers),
                limits.REACHABILITY_TIMEOUT_S,
            )
        except Exception as exc:
            raise to_port_error(exc) from exc

    async def _one_at_a_time(
        self, turn: asyncio.Lock, client: Any, peers: Sequence[port.UserPeer]
    ) -> dict[int, port.Reachability]:
        async with turn:
            return await self._reachability(client, peers)

    async def _reachability(
        self, client: Any, peers: Sequence[port.UserPeer]
    ) -> dict[int, port.Reachability]:
        answers: dict[int, port.Reachability] = {peer.user_id: "unknown" for peer in peers}
        # Only people with a stored access hash can be named to Telegram (never re-resolved).
        known = [peer for peer in peers if peer.access_hash is not None]
        for start in range(0, len(known), BATCH):
            batch = known[start : start + BATCH]
            ids = [types.InputUser(peer.user_id, peer.access_hash or 0) for peer in batch]
            for peer, answer in zip(batch, await _requirements(client, ids), strict=True):
                answers[peer.user_id] = answer
            users = await client(functions.users.GetUsersRequest(id=ids))
            for user in users:
                if isinstance(user, types.User) and user.deleted and user.id in answers:
                    answers[user.id] = "deactivated"
        return answers


async def _requirements(client: Any, ids: list[Any]) -> list[port.Reachability]:
    """What Telegram requires of the account to write to each of `ids`, in their order."""
    if _REQUIREMENTS is not None:
        found = await client(_REQUIREMENTS(id=ids))
        return [_requirement(answer) for answer in found]
    if _PREMIUM_REQUIRED is not None:  # Telethon before layer 200
        flags = await client(_PREMIUM_REQUIRED(id=ids))
        return ["premium_required" if flag else "ok" for flag in flags]
    return ["unknown"] * len(ids)
