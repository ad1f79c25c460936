"""Whether people can be messaged (users.getRequirementsToContact, and users.getUsers for
deleted accounts)."""

from __future__ import annotations

from collections.abc import Sequence

from app.telegram import port
from app.telegram.telethon.core import BackendCore


class ReachMixin(BackendCore):
    """TelethonBackend's reachability."""

    async def reachability(self, peers: Sequence[port.UserPeer]) -> dict[int, port.Reachability]:
        return {peer.user_id: "unknown" for peer in peers}
