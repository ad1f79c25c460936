"""Admin API (Bearer admin token): API clients, instances, and the sandbox's controls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import clients
from app.db import transaction
from app.errors import ApiError
from app.models import Instance, Message
from app.routes.common import (
    JSON,
    native_error,
    parse_json_object,
    read_body,
    require_admin,
    services,
)
from app.telegram.port import NotLoggedIn
from app.telegram.sandbox import InboundPerson, SandboxInputError, SandboxTelegram
from inbound.login_alerts import recent_login_alerts
from outbound.validation import normalize_number

Handler = Callable[[Request], Awaitable[Response]]

ADMIN_BODY_LIMIT = 16 * 1024 * 1024


def admin(handler: Handler) -> Handler:
    """Bearer auth and one error shape for every admin endpoint."""

    async def wrapped(request: Request) -> Response:
        try:
            await require_admin(request)
            return await handler(request)
        except ApiError as exc:
            return native_error(exc)
        except SandboxInputError as exc:
            return native_error(ApiError("invalid_field", str(exc)))

    return wrapped


async def _json(request: Request) -> dict[str, Any]:
    return parse_json_object(await read_body(request, ADMIN_BODY_LIMIT))


read_json_object = _json


def _expiry(data: dict[str, Any]) -> datetime | None:
    raw = data.get("expires_at")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ApiError("invalid_field", "'expires_at' must be an ISO 8601 date or date-time")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError("invalid_field", f"'expires_at' is not an ISO 8601 date: {raw!r}") from exc
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value


@admin
async def create_client(request: Request) -> Response:
    svc = services(request)
    data = await _json(request)
    if not data.get("client_id"):
        raise ApiError("missing_field", "Missing field 'client_id'")
    now = svc.clock()
    async with transaction(svc.factory) as session:
        view, secret = await clients.create_client(
            session, str(data["client_id"]), _expiry(data), now
        )
    svc.enqueuer.clients.invalidate(view.client_id)
    return JSON({**view.as_dict(now), "client_secret": secret}, status_code=201)


@admin
async def list_clients(request: Request) -> Response:
    svc = services(request)
    now = svc.clock()
    async with svc.read_factory() as session:
        views = await clients.list_clients(session)
    return JSON({"data": [v.as_dict(now) for v in views]})


@admin
async def client_action(request: Request) -> Response:
    svc = services(request)
    client_id = request.path_params["client_id"]
    action = request.path_params["action"]
    if action not in ("renew", "rotate", "revoke"):
        raise ApiError("not_found", f"Unknown action {action!r}: use renew, rotate or revoke")
    now = svc.clock()
    data = await _json(request) if action == "renew" else {}
    answer: dict[str, Any]
    async with transaction(svc.factory) as session:
        if action == "renew":
            view = await clients.renew_client(session, client_id, _expiry(data), now)
            answer = view.as_dict(now)
        elif action == "rotate":
            secret = await clients.rotate_client(session, client_id, now)
            answer = {"client_id": client_id, "client_secret": secret}
        else:
            answer = (await clients.revoke_client(session, client_id, now)).as_dict(now)
    # After the commit, so that no request can cache the old record again.
    svc.enqueuer.clients.invalidate(client_id)
    return JSON(answer)


async def instance_view(request: Request, inst: Instance) -> dict[str, Any]:
    svc = services(request)
    async with svc.read_factory() as session:
        counts = dict(
            (
                await session.execute(
                    select(col(Message.status), func.count())
                    .where(col(Message.instance) == inst.number)
                    .group_by(col(Message.status))
                )
            ).all()
        )
        login_alerts = await recent_login_alerts(session, inst.number)
    conf = svc.settings.instance(inst.number)
    return {
        "number": inst.number,
        "backend": inst.backend,
        "status": inst.status,
        "status_detail": inst.status_detail,
        "paused_until": inst.paused_until.isoformat() if inst.paused_until else None,
        # When it entered this status (a health condition's "since").
        "status_since": inst.status_since.isoformat() if inst.status_since else None,
        "phone": inst.phone,
        "user_id": inst.user_id,
        # Which `tgw serve` has the Telegram session open (app/lease.py); None: no process
        # here runs the instance (workers off).
        "session_owner": (
            lease.describe()["session_owner"] if (lease := svc.leases.get(inst.number)) else None
        ),
        # The session's own state machine in this process (logged_out, connecting, ready,
        # logging_out, revoked, ...); None where the backend keeps none (sandbox) or the
        # session is another process's.
        "session_state": (
            getattr(svc.backends.get(inst.number), "state", None)
            if lease is not None and lease.held
            else None
        ),
        "profile": await svc.profiles.view(inst.number, conf.profile if conf else None),
        "queue": {
            s: int(counts.get(s, 0)) for s in ("queued", "sending", "sent", "read", "failed")
        },
        # The latest logins to the account from other devices (account.login_alert events).
        "login_alerts": login_alerts,
    }


@admin
async def list_instances(request: Request) -> Response:
    svc = services(request)
    async with svc.read_factory() as session:
        rows = list(await session.scalars(select(Instance).order_by(col(Instance.number))))
    return JSON({"data": [await instance_view(request, r) for r in rows]})


@admin
async def get_instance(request: Request) -> Response:
    svc = services(request)
    async with svc.read_factory() as session:
        inst = await session.get(Instance, _instance_number(request))
    if inst is None:
        raise ApiError("unknown_instance", "No such instance")
    return JSON(await instance_view(request, inst))


def _instance_number(request: Request) -> int:
    raw = request.path_params["n"]
    if not raw.isdigit():
        raise ApiError("unknown_instance", f"Invalid gateway instance number {raw!r}")
    return int(raw)


def _sandbox(request: Request) -> SandboxTelegram:
    number = _instance_number(request)
    sandbox = services(request).sandboxes.get(number)
    if sandbox is None:
        raise ApiError("unknown_instance", f"Instance {number} is not a sandbox instance")
    return sandbox


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError("invalid_field", f"'{key}' must be an integer")
    return value


@admin
async def sandbox_inbound(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = await _json(request)
    sender = data.get("from")
    if not isinstance(sender, dict) or not sender.get("number"):
        raise ApiError("missing_field", "Missing field 'from.number'")
    person = InboundPerson(
        number=normalize_number(sender["number"], "from.number"),
        first_name=sender.get("first_name"),
        last_name=sender.get("last_name"),
        username=sender.get("username"),
        phone_visible=bool(sender.get("phone_visible", True)),
        is_bot=bool(sender.get("is_bot", False)),
    )
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise ApiError("invalid_field", "'text' must be a string")
    contact = data.get("contact")
    media = data.get("media")
    if contact is not None and not isinstance(contact, dict):
        raise ApiError("invalid_field", "'contact' must be an object")
    if media is not None and not isinstance(media, dict):
        raise ApiError("invalid_field", "'media' must be an object")
    message_id, update_id = await sandbox.inbound(
        person, text=text, contact=contact, media=media, reply_to=_optional_int(data, "reply_to")
    )
    # Answer once the gateway has handled it, so a caller can look at the result right away.
    handled = await sandbox.wait_consumed(update_id, timeout_s=5.0)
    return JSON({"message_id": message_id, "handled": handled})


@admin
async def sandbox_sent(request: Request) -> Response:
    sandbox = _sandbox(request)
    number = request.query_params.get("number")
    rows = await sandbox.sent_log(normalize_number(number) if number else None)
    return JSON({"data": rows})


@admin
async def sandbox_read(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = await _json(request)
    number = normalize_number(data.get("number"))
    max_id = _optional_int(data, "max_message_id")
    if max_id is None:
        raise ApiError("missing_field", "Missing field 'max_message_id'")
    update_id = await sandbox.mark_read(number, max_id)
    handled = await sandbox.wait_consumed(update_id, timeout_s=5.0)
    return JSON({"number": number, "max_message_id": max_id, "handled": handled})


@admin
async def sandbox_groups(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = await _json(request)
    name = data.get("group_name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError("missing_field", "Missing field 'group_name'")
    admin_number = normalize_number(data.get("group_admin"), "group_admin")
    members = data.get("members") or []
    if not isinstance(members, list):
        raise ApiError("invalid_field", "'members' must be a list of numbers")
    numbers = [normalize_number(m, "members") for m in members]
    chat_id = await sandbox.add_group(name.strip(), admin_number, numbers)
    return JSON({"chat_id": chat_id, "group_name": name.strip(), "group_admin": admin_number})


@admin
async def sandbox_faults(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = await _json(request)
    number = data.get("number")
    times = _optional_int(data, "times")
    fault_id = await sandbox.add_fault(
        flood_wait_s=_optional_int(data, "flood_wait_s"),
        error=data.get("error"),
        number=normalize_number(number) if number else None,
        times=1 if times is None else max(1, times),
    )
    return JSON({"id": fault_id}, status_code=201)


def _optional_text(data: dict[str, Any], key: str, default: str) -> str:
    value = data.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise ApiError("invalid_field", f"'{key}' must be a string")
    if len(value) > 255:
        raise ApiError("invalid_field", f"'{key}' may have at most 255 characters")
    return value.strip() or default


@admin
async def sandbox_new_login(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = await _json(request)
    device = _optional_text(data, "device", "Telegram Desktop, 5.0, Windows 10")
    location = _optional_text(data, "location", "Berlin, Germany")
    try:
        hash_, update_id = await sandbox.login_from_device(device, location)
    except NotLoggedIn as exc:
        raise ApiError("not_logged_in", str(exc)) from exc
    handled = await sandbox.wait_consumed(update_id, timeout_s=5.0)
    return JSON({"hash": str(hash_), "device": device, "location": location, "handled": handled})


routes = [
    Route("/admin/clients", create_client, methods=["POST"]),
    Route("/admin/clients", list_clients, methods=["GET"]),
    Route("/admin/clients/{client_id:str}/{action:str}", client_action, methods=["POST"]),
    Route("/admin/instances", list_instances, methods=["GET"]),
    Route("/admin/instances/{n:str}", get_instance, methods=["GET"]),
    Route("/admin/sandbox/{n:str}/inbound", sandbox_inbound, methods=["POST"]),
    Route("/admin/sandbox/{n:str}/sent", sandbox_sent, methods=["GET"]),
    Route("/admin/sandbox/{n:str}/read", sandbox_read, methods=["POST"]),
    Route("/admin/sandbox/{n:str}/groups", sandbox_groups, methods=["POST"]),
    Route("/admin/sandbox/{n:str}/faults", sandbox_faults, methods=["POST"]),
    Route("/admin/sandbox/{n:str}/new-login", sandbox_new_login, methods=["POST"]),
]
