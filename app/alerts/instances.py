"""Alerts on an instance's status: raised when it turns unhealthy, resolved when it is ready.

Unhealthy (the exact list): `banned`, `deactivated`, `revoked`, `frozen` (critical: the account
cannot send until someone acts), `restricted` (warning), `logged_out` only when it was logged in
before (ready, flood_wait, restricted or frozen; critical: not after an abandoned login), and
`flood_wait` only for a wait of an hour or more (warning: shorter waits end by themselves and
happen in ordinary sending).

Each (instance, status) alerts once until the instance is `ready` again; that return raises one
`instance.recovered` alert (info) when an unhealthy alert was open.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.record import AlertKind, Severity, clear_async, raise_alert_async
from app.vocabulary import ACCOUNT_CONDITIONS, InstanceStatus

UNHEALTHY = {
    InstanceStatus.BANNED: Severity.CRITICAL,
    InstanceStatus.DEACTIVATED: Severity.CRITICAL,
    InstanceStatus.REVOKED: Severity.CRITICAL,
    InstanceStatus.FROZEN: Severity.CRITICAL,
    InstanceStatus.LOGGED_OUT: Severity.CRITICAL,
    InstanceStatus.RESTRICTED: Severity.WARNING,
    InstanceStatus.FLOOD_WAIT: Severity.WARNING,
}
LOGGED_IN = (InstanceStatus.READY, *ACCOUNT_CONDITIONS)
LONG_FLOOD_WAIT_S = 3600


def condition(instance: int, status: str) -> str:
    return f"instance:{instance}:{status}"


async def on_status_change(
    session: AsyncSession,
    *,
    instance: int,
    previous: str,
    status: str,
    detail: str | None,
    now: datetime,
    wait_s: int | None,
) -> None:
    """Called by `set_instance_status` in its transaction."""
    if status == previous:
        return
    if status == InstanceStatus.READY:
        ended = [condition(instance, s) for s in UNHEALTHY]
        if await clear_async(session, ended, now):
            await raise_alert_async(
                session,
                kind=AlertKind.INSTANCE_RECOVERED,
                severity=Severity.INFO,
                summary=f"Instance {instance} is ready again (it was {previous})",
                detail={"status": status, "previous_status": previous},
                now=now,
                instance=instance,
            )
        return
    severity = UNHEALTHY.get(InstanceStatus(status))
    if severity is None:
        return
    if status == InstanceStatus.LOGGED_OUT and previous not in LOGGED_IN:
        return
    if status == InstanceStatus.FLOOD_WAIT and (wait_s or 0) < LONG_FLOOD_WAIT_S:
        return
    data: dict[str, object] = {"status": status, "previous_status": previous, "detail": detail}
    if wait_s is not None:
        data["flood_wait_s"] = wait_s
    why = f": {detail}" if detail else ""
    await raise_alert_async(
        session,
        kind=AlertKind.INSTANCE_UNHEALTHY,
        severity=severity,
        summary=f"Instance {instance} is {status} (was {previous}){why}",
        detail=data,
        now=now,
        instance=instance,
        condition=condition(instance, status),
    )
