"""Pacing decisions (pure): the account-wide rate and the per-recipient interval.

Telegram limits a user account to roughly one message a second per chat and a few a second
overall; going faster earns FloodWait and, with strangers, PEER_FLOOD. Times are monotonic
seconds given by the caller, so tests need no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pacer:
    per_second: float
    per_recipient_interval_s: float
    _next_slot: float = 0.0
    _last_sent: dict[str, float] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 or self.per_recipient_interval_s > 0

    def recipient_ready_in(self, peer_key: str, now: float) -> float:
        """Seconds until `peer_key` may receive again (0: now)."""
        if self.per_recipient_interval_s <= 0:
            return 0.0
        last = self._last_sent.get(peer_key)
        if last is None:
            return 0.0
        return max(0.0, last + self.per_recipient_interval_s - now)

    def slot_in(self, now: float) -> float:
        """Seconds until the account-wide rate allows the next send."""
        if self.per_second <= 0:
            return 0.0
        return max(0.0, self._next_slot - now)

    def record(self, peer_key: str, now: float) -> None:
        if self.per_second > 0:
            self._next_slot = max(now, self._next_slot) + 1.0 / self.per_second
        if self.per_recipient_interval_s > 0:
            self._last_sent[peer_key] = now
            if len(self._last_sent) > 10_000:  # forget peers whose interval has long passed
                horizon = now - self.per_recipient_interval_s
                self._last_sent = {k: t for k, t in self._last_sent.items() if t > horizon}


def retry_delay_s(attempts: int) -> float:
    """Backoff for transient send errors: 2, 4, 8 ... seconds, at most 5 minutes."""
    return float(min(300, 2 ** max(1, attempts)))
