"""The daily quotas of accepted messages: the deployment's (`[limits] messages_per_day`,
table daily_usage) and an API client's own (`api_client.daily_quota`, table
client_daily_usage). A message is accepted only if it fits both.

Every client's messages are counted, whether it has a quota or not, so that a quota given
during the day starts from what the client sent that day. Rows are taken in one order (the
clients' rows by id, then the deployment's row) so that two batches never wait on each other
in a circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.alerts.quota import note_quota
from app.errors import ApiError
from app.settings import LimitsSettings

_TAKE = text(
    "INSERT INTO daily_usage (day, count) VALUES (:day, :n) "
    "ON CONFLICT (day) DO UPDATE SET count = daily_usage.count + :n RETURNING count"
)
_GIVE_BACK = text("UPDATE daily_usage SET count = count - :n WHERE day = :day")
_CLIENT_TAKE = text(
    "INSERT INTO client_daily_usage (client_id, day, count) VALUES (:client_id, :day, :n) "
    "ON CONFLICT (client_id, day) DO UPDATE SET count = client_daily_usage.count + :n "
    "RETURNING count"
)
_CLIENT_GIVE_BACK = text(
    "UPDATE client_daily_usage SET count = count - :n WHERE client_id = :client_id AND day = :day"
)


def seconds_to_next_day(now: datetime, zone: str) -> tuple[str, int]:
    """Today's date in the quota's time zone and the whole seconds until its midnight."""
    local = now.astimezone(ZoneInfo(zone))
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.date().isoformat(), max(1, int((midnight - local).total_seconds() + 0.999))


@dataclass(frozen=True)
class Want:
    """One request's messages: all of them are accepted or none."""

    client_id: str
    size: int
    client_quota: int | None  # None: the deployment's quota alone


def _refusal(size: int, left: int, per_day: int, whose: str, retry_after_s: int) -> ApiError:
    if size == 1:
        message = (
            f"You have consumed all the paid daily quota{whose} ({per_day} messages a day); it "
            f"resets in {retry_after_s} s"
        )
    else:
        message = (
            f"These {size} messages are over the paid daily quota{whose} ({per_day} messages a "
            f"day, {max(0, left)} left today): none was accepted; it resets in {retry_after_s} s"
        )
    return ApiError("quota_exceeded", message, headers={"Retry-After": str(retry_after_s)})


def take_quota(
    conn: Connection, limits: LimitsSettings, wants: Sequence[Want], now: datetime
) -> list[ApiError | None]:
    """Count the requests' messages against today's quotas, in order: None for each request
    whose messages all fit (they are counted), else its 469 (it takes nothing)."""
    day, retry_after_s = seconds_to_next_day(now, limits.day_timezone)
    outcomes: list[ApiError | None] = [None] * len(wants)
    # The clients' own counts first: their rows, in id order.
    wanted_by_client: dict[str, int] = {}
    for want in wants:
        wanted_by_client[want.client_id] = wanted_by_client.get(want.client_id, 0) + want.size
    left_by_client: dict[str, int] = {}
    for client_id in sorted(wanted_by_client):
        wanted = wanted_by_client[client_id]
        params = {"client_id": client_id, "day": day, "n": wanted}
        left_by_client[client_id] = wanted - int(conn.execute(_CLIENT_TAKE, params).scalar_one())
    taken_by_client = dict.fromkeys(wanted_by_client, 0)
    for index, want in enumerate(wants):
        if want.client_quota is None:
            continue
        # What the client's quota has left before this batch (left_by_client is minus the
        # count before it), less what earlier requests of this batch took.
        left = want.client_quota + left_by_client[want.client_id] - taken_by_client[want.client_id]
        if want.size <= left:
            taken_by_client[want.client_id] += want.size
            continue
        whose = f" of API client {want.client_id}"
        outcomes[index] = _refusal(want.size, left, want.client_quota, whose, retry_after_s)
    # Then the deployment's quota, for what the clients' quotas let through.
    through = [i for i, o in enumerate(outcomes) if o is None]
    wanted_total = sum(wants[i].size for i in through)
    taken = 0
    if wanted_total:
        total = int(conn.execute(_TAKE, {"day": day, "n": wanted_total}).scalar_one())
        left_total = max(0, limits.messages_per_day - (total - wanted_total))
        for index in through:
            size = wants[index].size
            if taken + size <= left_total:
                taken += size
                continue
            per_day = limits.messages_per_day
            outcomes[index] = _refusal(size, left_total - taken, per_day, "", retry_after_s)
        if taken < wanted_total:
            conn.execute(_GIVE_BACK, {"day": day, "n": wanted_total - taken})
        before = total - wanted_total
        note_quota(conn, "deployment", before, taken, limits.messages_per_day, day, now)
    # Give back each client's count of what was refused.
    accepted_by_client = dict.fromkeys(wanted_by_client, 0)
    for want, outcome in zip(wants, outcomes, strict=True):
        if outcome is None:
            accepted_by_client[want.client_id] += want.size
    for client_id in sorted(wanted_by_client):
        unused = wanted_by_client[client_id] - accepted_by_client[client_id]
        if unused:
            conn.execute(_CLIENT_GIVE_BACK, {"client_id": client_id, "day": day, "n": unused})
    # A client's own quota at 80 % alerts the operator as the deployment's does.
    for want in wants:
        if want.client_quota is not None and want.client_id in accepted_by_client:
            client_id = want.client_id
            used_before = -left_by_client[client_id]  # its count before this batch
            taken_now = accepted_by_client.pop(client_id)
            note_quota(
                conn, f"client:{client_id}", used_before, taken_now, want.client_quota, day, now
            )
    return outcomes
