"""Admin API: API clients and what their keys may do (scopes, instances, a daily quota, an IP
allow-list, an expiry). Every change is committed, then this process's ClientCache forgets
the client, so its next request sees the change; other processes see it within the cache's
few seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from app import clients
from app.client_limits import Limits, check_instances, check_networks, check_quota, check_scopes
from app.errors import ApiError
from app.routes import admin_clients_schemas as shown
from app.routes.admin import read_json_object
from app.routes.admin_docs import TAG_CLIENTS
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Body as DocBody
from app.routes.apidoc import Doc, Expansion, Model
from app.routes.bodies import parse_body
from app.routes.common import JSON, services
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN
from app.services import Services


def expiry(raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError("invalid_field", f"'expires_at' is not an ISO 8601 date: {raw!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def client_view(view: clients.ClientView, now: datetime) -> shown.Client:
    return shown.Client.model_validate(view.as_dict(now))


def _known(svc: Services) -> list[int]:
    return [i.number for i in svc.settings.instances]


def _limits(body: shown.NewClientBody | shown.ClientChanges, svc: Services, base: Limits) -> Limits:
    """`base` with what `body` gives (a field set to null lifts that limit)."""
    given = body.model_fields_set
    scopes, instances, quota, networks = (
        base.scopes,
        base.instances,
        base.daily_quota,
        base.ip_allow,
    )
    if "scopes" in given:
        scopes = None if body.scopes is None else check_scopes(body.scopes)
    if "instances" in given:
        instances = None if body.instances is None else check_instances(body.instances, _known(svc))
    if "daily_quota" in given:
        quota = None if body.daily_quota is None else check_quota(body.daily_quota)
    if "ip_allow" in given:
        networks = None if body.ip_allow is None else check_networks(body.ip_allow)
    return Limits(scopes, instances, quota, networks)


async def create_client(request: Request) -> Response:
    svc = services(request)
    data = parse_body(shown.NewClientBody, await read_json_object(request))
    expires_at = expiry(data.expires_at)
    limits = _limits(data, svc, Limits())
    now = svc.clock()
    async with svc.database.write() as session:
        view, secret = await clients.create_client(session, data.client_id, expires_at, now, limits)
    svc.enqueuer.clients.invalidate(view.client_id)
    created = shown.ClientCreated.model_validate({**view.as_dict(now), "client_secret": secret})
    return JSON(created, status_code=201)


async def list_clients(request: Request) -> Response:
    svc = services(request)
    now = svc.clock()
    async with svc.database.read() as session:
        views = await clients.list_clients(session)
    return JSON(shown.ClientList(data=[client_view(v, now) for v in views]))


async def get_client(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        view = await clients.get_client(session, request.path_params["client_id"])
    return JSON(client_view(view, svc.clock()))


async def update_client(request: Request) -> Response:
    svc = services(request)
    client_id = request.path_params["client_id"]
    data = parse_body(shown.ClientChanges, await read_json_object(request))
    now = svc.clock()
    async with svc.database.write() as session:
        current = await clients.get_client(session, client_id)
        limits = _limits(data, svc, current.limits)
        view = await clients.update_client(
            session,
            client_id,
            limits,
            expiry(data.expires_at),
            now,
            set_expiry="expires_at" in data.model_fields_set,
        )
    # After the commit, so that no request can cache the old record again.
    svc.enqueuer.clients.invalidate(client_id)
    return JSON(client_view(view, now))


async def client_action(request: Request) -> Response:
    svc = services(request)
    client_id = request.path_params["client_id"]
    action = request.path_params["action"]
    if action not in ("renew", "rotate", "revoke"):
        raise ApiError("not_found", f"Unknown action {action!r}: use renew, rotate or revoke")
    now = svc.clock()
    expires_at = (
        expiry(parse_body(shown.RenewalBody, await read_json_object(request)).expires_at)
        if action == "renew"
        else None
    )
    answer: shown.Client | shown.ClientSecret
    async with svc.database.write() as session:
        if action == "renew":
            answer = client_view(
                await clients.renew_client(session, client_id, expires_at, now), now
            )
        elif action == "rotate":
            secret = await clients.rotate_client(session, client_id, now)
            answer = shown.ClientSecret(client_id=client_id, client_secret=secret)
        else:
            answer = client_view(await clients.revoke_client(session, client_id, now), now)
    # After the commit, so that no request can cache the old record again.
    svc.enqueuer.clients.invalidate(client_id)
    return JSON(answer)


# --- documentation ----------------------------------------------------------------------------


_RENEWAL = "The new expiry; {} (no expires_at) means it never expires."


def _client_action(action: str, summary: str, description: str, answer: type[Model]) -> Expansion:
    renew = action == "renew"
    doc = Doc(
        f"{action}Client",
        TAG_CLIENTS,
        summary,
        description,
        {200: Reply("Done.", answer)},
        errors=(400, 401, 404) if renew else (401, 404),
        path=shown.ClientPath,
        body=DocBody(
            shown.RenewalBody, "The new expiry; {} (no expires_at) means it never expires."
        )
        if renew
        else None,
    )
    return Expansion(f"/admin/clients/{{client_id}}/{action}", doc)


_LIMITS = (
    " A key may be limited to scopes (send, read, recipients, events), to instances, to IP "
    "networks, and given its own daily quota; a limit left out is no limit."
)
CREATE_CLIENT = Doc(
    "createClient",
    TAG_CLIENTS,
    "Create an API client",
    "The secret is in this answer only: it is stored as a hash." + _LIMITS,
    {201: Reply("Created.", shown.ClientCreated)},
    errors=(400, 401, 404, 409),
    error_texts={404: "unknown_instance: an instance in `instances` does not exist."},
    body=DocBody(shown.NewClientBody, "The new client."),
)
LIST_CLIENTS = Doc(
    "listClients",
    TAG_CLIENTS,
    "List API clients",
    "Every client with its state, its key's limits and its last use; never the secrets.",
    {200: Reply("Clients.", shown.ClientList)},
    errors=(401,),
)
GET_CLIENT = Doc(
    "getClient",
    TAG_CLIENTS,
    "Get an API client",
    "The client's state, its key's limits and its last use; never the secret.",
    {200: Reply("The client.", shown.Client)},
    errors=(401, 404),
    path=shown.ClientPath,
)
UPDATE_CLIENT = Doc(
    "updateClient",
    TAG_CLIENTS,
    "Change what an API client's key may do",
    "Only the fields given change; null lifts a limit. The secret stays. The change applies "
    "to the key's next request (in other gateway processes within a few seconds).",
    {200: Reply("The client as it is now.", shown.Client)},
    errors=(400, 401, 404),
    error_texts={404: "No such client, or (unknown_instance) no such instance."},
    path=shown.ClientPath,
    body=DocBody(shown.ClientChanges, "The changes."),
)
CLIENT_ACTIONS = [
    _client_action(
        "renew",
        "Renew a client",
        "Set a new expiry; the client id and secret stay the same (un-revokes too).",
        shown.Client,
    ),
    _client_action(
        "rotate",
        "Rotate a client's secret",
        "A new secret replaces the old one at once.",
        shown.ClientSecret,
    ),
    _client_action("revoke", "Revoke a client", "The credentials stop working.", shown.Client),
]

CLIENT_PATH = "/admin/clients/{client_id:str}"
routes = [
    endpoint(ADMIN, "/admin/clients", create_client, methods=["POST"], doc=CREATE_CLIENT),
    endpoint(ADMIN, "/admin/clients", list_clients, doc=LIST_CLIENTS),
    endpoint(ADMIN, CLIENT_PATH, get_client, doc=GET_CLIENT),
    endpoint(ADMIN, CLIENT_PATH, update_client, methods=["PATCH"], doc=UPDATE_CLIENT),
    # A generic route: renew, rotate and revoke are each documented on their own.
    endpoint(
        ADMIN,
        f"{CLIENT_PATH}/{{action:str}}",
        client_action,
        methods=["POST"],
        expansions=CLIENT_ACTIONS,
    ),
]
