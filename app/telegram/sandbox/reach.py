"""Reachability of people in the simulated network (the port's reachability)."""

from __future__ import annotations

from collections.abc import Sequence

from app.telegram.port import Reachability, UserPeer
from app.telegram.sandbox.state import SandboxState


class ReachMixin(SandboxState):
    """The port's reachability."""

    async def reachability(self, peers: Sequence[UserPeer]) -> dict[int, Reachability]:
        return {peer.user_id: "unknown" for peer in peers}
