"""Admin API: the groups an instance's account is in (whose messages are forwarded), and the
sandbox's controls for what people do to messages (edit, delete, react)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from app.errors import ApiError
from app.routes import groups_docs as ops
from app.routes import groups_schemas as shown
from app.routes.admin import _instance_number, _json, _sandbox
from app.routes.bodies import parse_body
from app.routes.common import JSON, services
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN
from app.settings.instances import InstanceSettings, plain_group_id
from app.timestamps import iso_or_none
from inbound.groups import GroupView, list_groups, rule_on_group
from outbound.validation import normalize_number

# How long a sandbox control waits for the gateway to handle what it pushed.
HANDLED_WITHIN_S = 5.0


def _configured(request: Request) -> tuple[int, InstanceSettings]:
    number = _instance_number(request)
    conf = services(request).settings.instance(number)
    if conf is None:
        raise ApiError("unknown_instance", f"Instance {number} is not configured")
    return number, conf


def _group_id(request: Request) -> int:
    raw = str(request.path_params["group_id"])
    digits = raw[1:] if raw.startswith("-") else raw
    if digits.isascii() and digits.isdigit() and len(digits) <= 19:
        try:
            return plain_group_id(int(raw))
        except ValueError:
            pass
    raise ApiError("invalid_field", f"'group_id' is not a Telegram group id: {raw[:40]!r}")


def _shown(view: GroupView) -> shown.Group:
    return shown.Group(
        id=view.group_id,
        title=view.title,
        allowed=view.allowed,
        source=view.source,
        last_message_at=iso_or_none(view.last_message_at),
    )


async def get_groups(request: Request) -> Response:
    number, conf = _configured(request)
    async with services(request).database.read() as session:
        views = await list_groups(session, number, conf.allowed_groups)
    return JSON(shown.GroupList(data=[_shown(v) for v in views]))


async def _rule(request: Request, allowed: bool) -> Response:
    number, conf = _configured(request)
    group_id = _group_id(request)
    svc = services(request)
    async with svc.database.write() as session:
        view = await rule_on_group(
            session, number, group_id, allowed, conf.allowed_groups, datetime.now(UTC)
        )
    return JSON(_shown(view))


async def allow_group(request: Request) -> Response:
    return await _rule(request, True)


async def disallow_group(request: Request) -> Response:
    return await _rule(request, False)


# --- the sandbox: a person edits, deletes, reacts ----------------------------------------------


async def sandbox_edit(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = parse_body(shown.EditBody, await _json(request))
    update_id = await sandbox.person_edits(
        normalize_number(data.number), data.message_id, data.text
    )
    handled = await sandbox.wait_consumed(update_id, timeout_s=HANDLED_WITHIN_S)
    return JSON(shown.ChangeHandled(handled=handled))


async def sandbox_delete(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = parse_body(shown.DeleteBody, await _json(request))
    number = normalize_number(data.number)
    update_id = await sandbox.person_deletes(number, list(data.message_ids))
    handled = await sandbox.wait_consumed(update_id, timeout_s=HANDLED_WITHIN_S)
    return JSON(shown.ChangeHandled(handled=handled))


async def sandbox_react(request: Request) -> Response:
    sandbox = _sandbox(request)
    data = parse_body(shown.ReactBody, await _json(request))
    number = normalize_number(data.number)
    update_id = await sandbox.person_reacts(number, data.message_id, data.emoji)
    handled = await sandbox.wait_consumed(update_id, timeout_s=HANDLED_WITHIN_S)
    return JSON(shown.ChangeHandled(handled=handled))


_GROUP = "/admin/instances/{n:str}/groups/{group_id:str}"

routes = [
    endpoint(ADMIN, "/admin/instances/{n:str}/groups", get_groups, doc=ops.LIST_GROUPS),
    endpoint(ADMIN, _GROUP, allow_group, methods=["PUT"], doc=ops.ALLOW_GROUP),
    endpoint(ADMIN, _GROUP, disallow_group, methods=["DELETE"], doc=ops.DISALLOW_GROUP),
    *(
        endpoint(ADMIN, f"/admin/sandbox/{{n:str}}/{name}", handler, methods=["POST"], doc=doc)
        for name, handler, doc in (
            ("edit", sandbox_edit, ops.SANDBOX_EDIT),
            ("delete", sandbox_delete, ops.SANDBOX_DELETE),
            ("react", sandbox_react, ops.SANDBOX_REACT),
        )
    ),
]
