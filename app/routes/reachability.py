"""Whether numbers can be messaged (/api/v1/recipients/.../reachability), and the sandbox
control that makes a person Premium-only, paid-only or deleted (/admin/sandbox/{n}/people)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.cluster.forward import HeldElsewhere, held_elsewhere
from app.routes import reachability_docs as ops
from app.routes import reachability_schemas as shown
from app.routes.admin import _sandbox
from app.routes.bodies import parse_body
from app.routes.common import JSON, parse_json_object, read_body, services
from app.routes.queries import parse_query
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN, NATIVE, require_client_instance
from app.timestamps import iso
from app.vocabulary import Scope
from outbound.reach import Reach, check_reachability
from outbound.validation import normalize_number

# A hundred numbers, generously spaced, fit many times over.
BODY_LIMIT = 64 * 1024


def reach_view(instance: int, answer: Reach) -> shown.RecipientReachability:
    return shown.RecipientReachability(
        instance=instance,
        number=answer.number,
        reachability=answer.reachability,
        checked_at=iso(answer.checked_at),
        source=answer.source,
        detail=answer.detail,
    )


async def _answers(
    request: Request, instance: int, numbers: list[str], body: bytes | None = None
) -> list[Reach] | Response:
    """The answers, or the answer of the process that holds the instance's session: only it
    can ask Telegram. When that process cannot be reached, what is stored answers."""
    svc = services(request)
    svc.enqueuer.check_instance(instance)
    require_client_instance(request, instance)
    backend = svc.telegram.backends.get(instance)
    no_backend = "this instance has no Telegram backend running"
    if held_elsewhere(request, instance):
        forwarded = await HeldElsewhere(instance, body=body, admin=False).answer(request)
        if forwarded is not None:
            return forwarded
        backend = None
        no_backend = "no gateway process holding this instance's session could be reached"
    return await check_reachability(
        svc.database, backend, instance, numbers, svc.clock(), no_backend=no_backend
    )


async def get_reachability(request: Request) -> Response:
    number = normalize_number(request.path_params["number"])
    instance = parse_query(shown.ReachabilityQuery, request.query_params).instance
    answers = await _answers(request, instance, [number])
    if isinstance(answers, Response):
        return answers
    return JSON(reach_view(instance, answers[0]))


async def check_many(request: Request) -> Response:
    raw_body = await read_body(request, BODY_LIMIT)
    data = parse_body(shown.ReachabilityBody, parse_json_object(raw_body))
    numbers: list[str] = []
    for index, raw in enumerate(data.numbers):
        number = normalize_number(raw, f"numbers[{index}]")
        if number not in numbers:
            numbers.append(number)
    answers = await _answers(request, data.instance, numbers, raw_body)
    if isinstance(answers, Response):
        return answers
    return JSON(
        shown.RecipientReachabilityList(
            instance=data.instance, data=[reach_view(data.instance, a) for a in answers]
        )
    )


async def sandbox_people(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = parse_json_object(await read_body(request, BODY_LIMIT))
    data = parse_body(shown.SandboxPersonBody, body)
    rules = await sandbox.set_person(
        normalize_number(data.number),
        requires=data.requires,
        stars=data.stars,
        deactivated=data.deactivated,
    )
    return JSON(
        shown.SandboxPerson(
            number=rules.number,
            requires=rules.requires,
            stars=rules.stars,
            deactivated=rules.deactivated,
        )
    )


routes = [
    endpoint(
        NATIVE,
        "/api/v1/recipients/{number:str}/reachability",
        get_reachability,
        scope=Scope.RECIPIENTS,
        doc=ops.GET_ONE,
    ),
    endpoint(
        NATIVE,
        "/api/v1/recipients/reachability",
        check_many,
        methods=["POST"],
        scope=Scope.RECIPIENTS,
        doc=ops.CHECK_MANY,
    ),
    endpoint(
        ADMIN,
        "/admin/sandbox/{n:str}/people",
        sandbox_people,
        methods=["POST"],
        doc=ops.SANDBOX_PEOPLE,
    ),
]
