"""[retention]: how long the gateway keeps what it has done (app/retention/).

Every period is a number of days (hours for idempotency keys); 0 (or None, given in code)
turns that rule off: those rows are kept for ever.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from app.settings.base import _Section

# Idempotency keys are honoured for 24 hours (outbound/accept.py): a shorter retention would
# let a retried request through as a second send.
IDEMPOTENCY_MIN_HOURS = 24
# Days are local ([limits] day_timezone): a count younger than this may be today's somewhere.
USAGE_MIN_DAYS = 2


class RetentionSettings(_Section):
    # Webhook deliveries that were delivered, with their attempts, after their delivery.
    delivered_deliveries_days: float | None = Field(default=7, ge=0)
    # Dead deliveries (retries given up), with their attempts, after they died.
    dead_deliveries_days: float | None = Field(default=30, ge=0)
    # Outbound messages in a final state (sent, read, failed) and actions (edit, delete,
    # reaction) done or failed, after their creation; their media when nothing else uses it.
    messages_days: float | None = Field(default=30, ge=0)
    # The media bytes of inbound messages (the messages' rows and text stay).
    inbound_media_days: float | None = Field(default=30, ge=0)
    idempotency_hours: float | None = Field(default=IDEMPOTENCY_MIN_HOURS, ge=0)
    # The event log, never past a reader's position (see the README's "Retention").
    events_days: float | None = Field(default=30, ge=0)
    alerts_days: float | None = Field(default=90, ge=0)
    # What keeps an update Telegram replays after a restart from being reported twice:
    # message deletions, reactions taken back, login alerts (app/retention/records.py).
    replay_records_days: float | None = Field(default=30, ge=0)
    # A person's reactions still set on a message, after they were made.
    reactions_days: float | None = Field(default=90, ge=0)
    # The quotas' daily counts (deployment and per API client), after their day.
    usage_days: float | None = Field(default=90, ge=0)
    # How often the job runs; rows per delete statement; the pause between two batches.
    interval_s: float = Field(default=300, gt=0, le=86400)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    pause_s: float = Field(default=0.05, ge=0, le=10)

    @field_validator("idempotency_hours")
    @classmethod
    def _not_inside_the_window(cls, value: float | None) -> float | None:
        if value and value < IDEMPOTENCY_MIN_HOURS:
            raise ValueError(
                f"must be 0 (off) or at least {IDEMPOTENCY_MIN_HOURS}: keys are honoured for"
                f" {IDEMPOTENCY_MIN_HOURS} hours"
            )
        return value

    @field_validator("usage_days")
    @classmethod
    def _not_today(cls, value: float | None) -> float | None:
        if value and value < USAGE_MIN_DAYS:
            raise ValueError(
                f"must be 0 (off) or at least {USAGE_MIN_DAYS}: today's count (in [limits] "
                "day_timezone) is what the quotas read"
            )
        return value
