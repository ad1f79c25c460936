"""What became of one send attempt, as a value: `Sent`, `Failed`, `Retry` or `Pause`.

`sent` and `classify` are pure: they turn the backend's answer (a `SentMessage` or the
exception it raised) into an `Outcome`; the worker then writes rows and events from it
(`outbound/records.py`) or pauses the instance (`Pause`). No I/O and no clock here: `now` and
the attempt count are arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.telegram.port import (
    AccountFrozen,
    AlreadySent,
    EditWindowExpired,
    FloodWait,
    MessageGone,
    MessageRejected,
    NotLoggedIn,
    PeerFlood,
    RecipientError,
    SentMessage,
    SessionRevoked,
    TransientError,
)
from app.vocabulary import InstanceStatus
from outbound.pacing import retry_delay_s

PEER_FLOOD_PAUSE = timedelta(hours=1)
FROZEN_PAUSE = timedelta(hours=6)


@dataclass(frozen=True)
class Sent:
    """Telegram took the message (or had taken it already: a resend with its random_id)."""

    telegram_message_id: int | None
    sent_at: datetime


@dataclass(frozen=True)
class Failed:
    """The message cannot be sent, ever: it fails with a stable error code."""

    error_code: str
    detail: str | None


@dataclass(frozen=True)
class Retry:
    """A passing problem: the message goes back in line until `at`."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class Pause:
    """The account cannot send for now: the instance takes `status`, and the batch's rest goes
    back in line. `pause_for` None holds the queue until something else (a login) changes the
    status; otherwise the queue resumes after it."""

    status: InstanceStatus
    detail: str | None
    pause_for: timedelta | None
    reason: str  # the `last_error` of the messages put back

    @property
    def wait_s(self) -> int | None:
        """The pause in seconds, as the `instance.status` event carries it."""
        return None if self.pause_for is None else int(self.pause_for.total_seconds())


Outcome = Sent | Failed | Retry | Pause
# The outcomes written to the message rows; a `Pause` puts them back in line instead.
Recorded = Sent | Failed | Retry

# What `classify` expects a backend to raise; anything else is a bug, logged by the worker.
KNOWN_ERRORS: tuple[type[Exception], ...] = (
    AlreadySent,
    FloodWait,
    PeerFlood,
    AccountFrozen,
    SessionRevoked,
    NotLoggedIn,
    RecipientError,
    MessageRejected,
    EditWindowExpired,
    MessageGone,
    TransientError,
    TimeoutError,
    OSError,
)


def sent(result: SentMessage) -> Sent:
    """Telegram's answer to a send."""
    return Sent(result.message_id or None, result.date)


def classify(exc: Exception, now: datetime, attempts: int) -> Outcome:
    """The outcome of a send that raised `exc`; `attempts` counts this one (for the backoff).

    Unknown exceptions are retried: a bug or an unmapped error must not lose the message.
    """
    if isinstance(exc, AlreadySent):
        return Sent(exc.message_id or None, now)
    if isinstance(exc, FloodWait):
        seconds = exc.seconds
        return Pause(
            InstanceStatus.FLOOD_WAIT,
            f"FloodWait of {seconds} s",
            timedelta(seconds=seconds),
            f"flood_wait: {seconds}",
        )
    if isinstance(exc, PeerFlood):
        return Pause(
            InstanceStatus.RESTRICTED,
            "PEER_FLOOD: Telegram limits this account for messaging people; check @SpamBot."
            f" Sending pauses for {PEER_FLOOD_PAUSE.total_seconds() / 3600:.0f} h",
            PEER_FLOOD_PAUSE,
            f"peer_flood: {exc}",
        )
    if isinstance(exc, AccountFrozen):
        return Pause(
            InstanceStatus.FROZEN,
            f"{exc}. Sending pauses for"
            f" {FROZEN_PAUSE.total_seconds() / 3600:.0f} h, then tries again",
            FROZEN_PAUSE,
            f"frozen: {exc}",
        )
    if isinstance(exc, SessionRevoked):  # revoked, or the account banned or deleted
        status = InstanceStatus(exc.status)
        return Pause(status, str(exc), None, f"{status}: {exc}")
    if isinstance(exc, NotLoggedIn):
        return Pause(InstanceStatus.LOGGED_OUT, str(exc), None, f"logged_out: {exc}")
    # An edit past Telegram's window, an action on a message gone there (outbound/actions.py).
    if isinstance(exc, (RecipientError, MessageRejected, EditWindowExpired, MessageGone)):
        return Failed(exc.code, str(exc))
    return Retry(now + timedelta(seconds=retry_delay_s(attempts)), repr(exc))
