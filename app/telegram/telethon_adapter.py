"""The Telethon backend: the ONLY module that imports telethon (ruff TID251 enforces it).

This first part is the session storage: a Telethon `Session` kept in the gateway's database,
sealed at rest, with the update state and entity cache that catching up after downtime needs
(reference/telethon-notes.md §1.4). A StringSession would lose both.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from telethon import errors
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

    def __init__(self, writer: SessionWriter, snapshot: Snapshot | None = None) -> None:
        super().__init__()
        self._writer = writer
        if snapshot is not None:
            self.restore(snapshot)

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

    def save(self) -> None:
        self._writer.submit(self.snapshot())

    def close(self) -> None:
        self.save()

    def delete(self) -> None:
        self._writer.submit(None)

    def __repr__(self) -> str:  # never show the auth key in logs
        return f"DatabaseSession(dc={self._dc_id}, authorized={self._auth_key is not None})"

    def clone(self, to_instance: Any = None) -> MemorySession:
        return MemorySession()  # Telethon's CDN helper only needs an empty session


# --- errors: Telethon's to the port's (matched by explicit class, never by base class alone:
# SessionPasswordNeededError is an UnauthorizedError too, RandomIdDuplicateError a ServerError;
# reference/telethon-notes.md §4.4) ---

_RECIPIENT_ERRORS: tuple[tuple[tuple[type[Exception], ...], type[port.RecipientError]], ...] = (
    ((errors.UserIsBlockedError, errors.YouBlockedUserError), port.UserBlocked),
    ((errors.InputUserDeactivatedError,), port.UserDeactivated),
    ((errors.UserPrivacyRestrictedError, errors.ChatWriteForbiddenError), port.PrivacyRestricted),
    (
        (
            errors.PeerIdInvalidError,
            errors.UserIdInvalidError,
            errors.ChatIdInvalidError,
            errors.ChannelInvalidError,
            errors.ChannelPrivateError,
        ),
        port.PeerInvalid,
    ),
)
_REJECTED = (
    errors.MessageTooLongError,
    errors.MessageEmptyError,
    errors.MediaCaptionTooLongError,
    errors.EntityBoundsInvalidError,
    errors.PhotoInvalidDimensionsError,
    errors.MediaEmptyError,
)
_SESSION_GONE = (
    errors.AuthKeyUnregisteredError,
    errors.SessionRevokedError,
    errors.SessionExpiredError,
    errors.UserDeactivatedError,
    errors.UserDeactivatedBanError,
    errors.AuthKeyDuplicatedError,
)


def to_port_error(exc: BaseException) -> port.TelegramError:
    """The port's error for anything a Telethon call raised."""
    if isinstance(exc, port.TelegramError):
        return exc
    if isinstance(exc, errors.RandomIdDuplicateError):
        return port.AlreadySent(None)
    if isinstance(exc, errors.FloodWaitError | errors.FloodPremiumWaitError):
        return port.FloodWait(int(exc.seconds))
    if isinstance(exc, errors.SlowModeWaitError):
        return port.FloodWait(int(exc.seconds))
    if isinstance(exc, errors.PeerFloodError):
        return port.PeerFlood(str(exc))
    for classes, error in _RECIPIENT_ERRORS:
        if isinstance(exc, classes):
            return error(str(exc))
    if isinstance(exc, _REJECTED):
        return port.MessageRejected(str(exc))
    if isinstance(exc, _SESSION_GONE):
        return port.SessionRevoked(str(exc))
    if isinstance(exc, errors.RPCError) and exc.code in (400, 403, 406):
        # An error Telegram gives for this request: sending it again will not help.
        return port.MessageRejected(f"{exc.code} {exc.message}")
    # Server-side trouble (500, RPC_CALL_FAIL, TIMEOUT), network loss, timeouts, the unknown:
    # retried later with the same random_id, which is always safe.
    return port.TransientError(repr(exc))
