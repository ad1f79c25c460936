"""Admin API (Bearer admin token): instances and the sandbox's controls (API clients:
app/routes/admin_clients.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app import instances
from app.errors import ApiError
from app.models import Instance
from app.routes import admin_docs as ops
from app.routes import admin_schemas as shown
from app.routes.bodies import parse_body, parse_query
from app.routes.common import (
    JSON,
    instance_number,
    parse_json_object,
    read_body,
    services,
)
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN
from app.telegram.port import NotLoggedIn
from app.telegram.sandbox import InboundPerson, SandboxTelegram
from app.timestamps import iso_or_none
from app.vocabulary import MessageStatus
from inbound.login_alerts import recent_login_alerts
from outbound.validation import normalize_number

Handler = Callable[[Request], Awaitable[Response]]

ADMIN_BODY_LIMIT = 16 * 1024 * 1024


async def _json(request: Request) -> dict[str, Any]:
    return parse_json_object(await read_body(request, ADMIN_BODY_LIMIT))


read_json_object = _json


async def instance_view(request: Request, inst: Instance) -> shown.Instance:
    svc = services(request)
    async with svc.database.read() as session:
        counts = await instances.queue_counts(session, inst.number)
        login_alerts = await recent_login_alerts(session, inst.number)
    conf = svc.settings.instance(inst.number)
    return shown.Instance.model_validate(
        {
            "number": inst.number,
            "backend": inst.backend,
            "status": inst.status,
            "status_detail": inst.status_detail,
            "paused_until": iso_or_none(inst.paused_until),
            # When it entered this status (a health condition's "since").
            "status_since": iso_or_none(inst.status_since),
            "phone": inst.phone,
            "user_id": inst.user_id,
            # Which `tgw serve` has the Telegram session open (app/lease.py); None: no process
            # here runs the instance (workers off).
            "session_owner": (
                lease.describe()["session_owner"]
                if (lease := svc.telegram.leases.get(inst.number))
                else None
            ),
            # The session's own state machine in this process (logged_out, connecting, ready,
            # logging_out, revoked, ...); None where the backend keeps none (sandbox) or the
            # session is another process's.
            "session_state": (
                getattr(svc.telegram.backends.get(inst.number), "state", None)
                if lease is not None and lease.held
                else None
            ),
            "profile": await svc.accounts.profiles.view(
                inst.number, conf.profile if conf else None
            ),
            "queue": {
                **{status: counts.get(status, 0) for status in MessageStatus},
                "paused": inst.queue_paused_at is not None,
                "paused_at": iso_or_none(inst.queue_paused_at),
            },
            # The latest logins to the account from other devices (account.login_alert events).
            "login_alerts": login_alerts,
        }
    )


async def list_instances(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        rows = await instances.list_instances(session)
    return JSON(shown.InstanceList(data=[await instance_view(request, r) for r in rows]))


async def get_instance(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        inst = await session.get(Instance, _instance_number(request))
    if inst is None:
        raise ApiError("unknown_instance", "No such instance")
    return JSON(await instance_view(request, inst))


def _instance_number(request: Request) -> int:
    return instance_number(request.path_params["n"])


def _sandbox(request: Request) -> SandboxTelegram:
    number = _instance_number(request)
    sandbox = services(request).telegram.sandboxes.get(number)
    if sandbox is None:
        raise ApiError("unknown_instance", f"Instance {number} is not a sandbox instance")
    return sandbox


# --- the sandbox's controls ------------------------------------------------------------------


async def sandbox_inbound(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = parse_body(shown.InboundBody, await _json(request))
    sender = data.from_
    person = InboundPerson(
        number=normalize_number(sender.number, "from.number"),
        first_name=sender.first_name,
        last_name=sender.last_name,
        username=sender.username,
        phone_visible=sender.phone_visible,
        is_bot=sender.is_bot,
    )
    contact = data.contact.model_dump() if data.contact else None
    media = data.media.model_dump() if data.media else None
    location = data.location.model_dump() if data.location else None
    chat_id = None
    if data.group is not None:
        admin_number = normalize_number(data.group.group_admin, "group.group_admin")
        chat_id = await sandbox.group_member(data.group.group_name, admin_number, person.number)
    elif data.mentions_account:
        raise ApiError("invalid_field", "'mentions_account' is for a message in a 'group'")
    message_id, update_id = await sandbox.inbound(
        person,
        text=data.text,
        contact=contact,
        media=media,
        reply_to=data.reply_to,
        chat_id=chat_id,
        mentions_account=data.mentions_account,
        location=location,
    )
    # Answer once the gateway has handled it, so a caller can look at the result right away.
    handled = await sandbox.wait_consumed(update_id, timeout_s=5.0)
    return JSON(shown.InboundHandled(message_id=message_id, handled=handled))


async def sandbox_sent(request: Request) -> Response:
    sandbox = _sandbox(request)
    number = parse_query(shown.SentQuery, request.query_params).number
    rows = await sandbox.sent_log(normalize_number(number) if number else None)
    return JSON(shown.SandboxSentList.model_validate({"data": rows}))


async def sandbox_read(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = parse_body(shown.ReadBody, await _json(request))
    number = normalize_number(data.number)
    update_id = await sandbox.mark_read(number, data.max_message_id)
    handled = await sandbox.wait_consumed(update_id, timeout_s=5.0)
    return JSON(
        shown.ReadHandled(number=number, max_message_id=data.max_message_id, handled=handled)
    )


async def sandbox_groups(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = parse_body(shown.GroupBody, await _json(request))
    name = data.group_name
    admin_number = normalize_number(data.group_admin, "group_admin")
    numbers = [normalize_number(m, "members") for m in data.members or []]
    chat_id = await sandbox.add_group(name, admin_number, numbers)
    return JSON(shown.SandboxGroup(chat_id=chat_id, group_name=name, group_admin=admin_number))


async def sandbox_faults(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = parse_body(shown.FaultBody, await _json(request))
    fault_id = await sandbox.add_fault(
        flood_wait_s=data.flood_wait_s,
        error=data.error,
        number=normalize_number(data.number) if data.number else None,
        times=data.times,
    )
    return JSON(shown.FaultArmed(id=fault_id), status_code=201)


async def sandbox_new_login(request: Request) -> Response:
    sandbox = _sandbox(request)
    # The body is optional (both fields have defaults).
    raw = await read_body(request, ADMIN_BODY_LIMIT)
    data = parse_body(shown.NewLoginBody, parse_json_object(raw) if raw.strip() else {})
    device, location = data.device or shown.DEVICE, data.location or shown.LOCATION
    try:
        hash_, update_id = await sandbox.login_from_device(device, location)
    except NotLoggedIn as exc:
        raise ApiError("not_logged_in", str(exc)) from exc
    handled = await sandbox.wait_consumed(update_id, timeout_s=5.0)
    return JSON(
        shown.NewLoginDone(hash=str(hash_), device=device, location=location, handled=handled)
    )


routes = [
    endpoint(ADMIN, "/admin/instances", list_instances, doc=ops.LIST_INSTANCES),
    endpoint(ADMIN, "/admin/instances/{n:str}", get_instance, doc=ops.GET_INSTANCE),
    *(
        endpoint(ADMIN, f"/admin/sandbox/{{n:str}}/{name}", handler, methods=[method], doc=doc)
        for name, handler, method, doc in (
            ("inbound", sandbox_inbound, "POST", ops.SANDBOX_INBOUND),
            ("sent", sandbox_sent, "GET", ops.SANDBOX_SENT),
            ("read", sandbox_read, "POST", ops.SANDBOX_READ),
            ("groups", sandbox_groups, "POST", ops.SANDBOX_GROUPS),
            ("faults", sandbox_faults, "POST", ops.SANDBOX_FAULTS),
            ("new-login", sandbox_new_login, "POST", ops.SANDBOX_NEW_LOGIN),
        )
    ),
]
