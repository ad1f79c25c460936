"""The Telethon session kept in the gateway's database, sealed at rest, with the update state
and entity cache that catching up after downtime needs; a
StringSession would lose both. Also the account record the snapshot carries.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from telethon.crypto import AuthKey
from telethon.sessions import MemorySession
from telethon.tl import types

from app.telegram import port
from app.telegram.session_store import SessionWriter, Snapshot

SNAPSHOT_VERSION = 1


class DatabaseSession(MemorySession):  # type: ignore[misc]
    """Telethon's in-memory session, persisted as a snapshot through a SessionWriter.

    Lookups stay in memory (Telethon calls `process_entities` after every request); `save()`
    and `close()` hand the current state to the writer, `delete()` (log_out) forgets it.
    """

    def __init__(self, writer: SessionWriter | None, snapshot: Snapshot | None = None) -> None:
        super().__init__()
        self._writer = writer
        # The account logged in with this key (None while a login is under way): a running
        # gateway only takes over a session that has one.
        self.account: dict[str, Any] | None = None
        # Set once the key stopped working (revoked from a phone): kept for the record, never
        # used again; a new login replaces the whole snapshot.
        self.revoked: str | None = None
        # Why: "revoked", or the account's condition ("banned", "deactivated").
        self.revoked_status: str | None = None
        # When true, Telethon's own writes of the account's update state are ignored: Telethon
        # advances it as soon as updates arrive, before the gateway has stored them. The
        # backend records the state itself once everything before it was handled
        # (`commit_update_state`), so a crash replays rather than loses (dedupe by message id).
        self.guard_update_state = False
        if snapshot is not None:
            self.restore(snapshot)

    def set_update_state(self, entity_id: int, state: Any) -> None:
        if entity_id == 0 and self.guard_update_state:
            return
        super().set_update_state(entity_id, state)

    def commit_update_state(self, state: Any) -> None:
        """Record the account's update state (everything up to it has been handled) and save."""
        super().set_update_state(0, state)
        self.save()

    def stored_update_state(self) -> Any:
        return self._update_states.get(0)

    def snapshot(self) -> Snapshot:
        key = self._auth_key.key if self._auth_key is not None else None
        return {
            "version": SNAPSHOT_VERSION,
            "dc_id": self._dc_id,
            "server_address": self._server_address,
            "port": self._port,
            "auth_key": base64.b64encode(key).decode() if key else None,
            "takeout_id": self._takeout_id,
            # Rows hold None in places, so sort by the id alone.
            "entities": sorted((list(row) for row in self._entities), key=lambda r: r[0]),
            "states": {
                str(entity_id): [
                    state.pts,
                    state.qts,
                    int(state.date.timestamp()),
                    state.seq,
                ]
                for entity_id, state in self._update_states.items()
            },
            "account": self.account,
            "revoked": self.revoked,
            "revoked_status": self.revoked_status,
        }

    def restore(self, snapshot: Snapshot) -> None:
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown session snapshot version {snapshot.get('version')!r}")
        self._dc_id = snapshot["dc_id"]
        self._server_address = snapshot["server_address"]
        self._port = snapshot["port"]
        raw_key = snapshot["auth_key"]
        self._auth_key = AuthKey(base64.b64decode(raw_key)) if raw_key else None
        self._takeout_id = snapshot["takeout_id"]
        self._entities = {tuple(row) for row in snapshot["entities"]}
        self._update_states = {
            int(entity_id): types.updates.State(
                pts=pts,
                qts=qts,
                date=dt.datetime.fromtimestamp(date, dt.UTC),
                seq=seq,
                unread_count=0,
            )
            for entity_id, (pts, qts, date, seq) in snapshot["states"].items()
        }
        self.account = snapshot.get("account")
        self.revoked = snapshot.get("revoked")
        self.revoked_status = snapshot.get("revoked_status")

    def save(self) -> None:
        if self._writer is not None:
            self._writer.submit(self.snapshot())

    def close(self) -> None:
        self.save()

    def delete(self) -> None:
        if self._writer is not None:
            self._writer.submit(None)

    def detach(self) -> None:
        """Store nothing more: the instance's session was replaced or logged out."""
        self._writer = None

    def __repr__(self) -> str:  # never show the auth key in logs
        return f"DatabaseSession(dc={self._dc_id}, authorized={self._auth_key is not None})"

    def clone(self, to_instance: Any = None) -> MemorySession:
        return MemorySession()  # Telethon's CDN helper only needs an empty session


def _account_of(user: Any) -> port.Account:
    return port.Account(
        user_id=int(user.id),
        phone=user.phone,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
    )


def _account_dict(account: port.Account) -> dict[str, Any]:
    return {
        "user_id": account.user_id,
        "phone": account.phone,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "username": account.username,
    }


def _account_from_dict(data: dict[str, Any]) -> port.Account:
    return port.Account(
        user_id=int(data["user_id"]),
        phone=data.get("phone"),
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
        username=data.get("username"),
    )


def _usable(snapshot: Snapshot | None) -> bool:
    """A stored session that is logged in and not revoked."""
    return snapshot is not None and bool(snapshot.get("account")) and not snapshot.get("revoked")
