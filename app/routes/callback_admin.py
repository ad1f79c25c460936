"""Admin API: an API client's callback signing secret (read it, rotate it). The secret signs
the per-message callbacks of that client's sends (inbound/webhooks/callbacks.py)."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from app.errors import ApiError
from app.models import ApiClient
from app.routes.admin_clients_schemas import ClientPath
from app.routes.admin_docs import TAG_CLIENTS
from app.routes.apidoc import Answer, Doc
from app.routes.callback_schemas import CallbackSecretView
from app.routes.common import JSON, services
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN
from app.sealing import SealError
from app.services import Services
from app.timestamps import iso_or_none
from inbound.webhooks.callback_secrets import CallbackSecret, read_secret, rotate_secret


async def _known_client(svc: Services, client_id: str) -> None:
    if len(client_id) > 254 or "\x00" in client_id:
        raise ApiError("not_found", f"No client {client_id[:60]!r}")
    async with svc.database.read() as session:
        found = await session.scalar(
            select(col(ApiClient.id)).where(col(ApiClient.client_id) == client_id)
        )
    if found is None:
        raise ApiError("not_found", f"No client {client_id!r}")


def _view(secret: CallbackSecret) -> CallbackSecretView:
    return CallbackSecretView(
        client_id=secret.client_id,
        secret=secret.secret,
        previous_secret_until=iso_or_none(secret.previous_secret_until),
    )


async def get_callback_secret(request: Request) -> Response:
    svc = services(request)
    client_id = str(request.path_params["client_id"])
    await _known_client(svc, client_id)
    work = partial(read_secret, box=svc.secret_box, client_id=client_id, now=svc.clock())
    try:
        secret = await svc.database.run(work)
    except SealError as exc:
        raise ApiError(
            "conflict",
            "The stored callback secret does not open (was secret_key changed?): rotate it",
        ) from exc
    return JSON(_view(secret))


async def rotate_callback_secret(request: Request) -> Response:
    svc = services(request)
    client_id = str(request.path_params["client_id"])
    await _known_client(svc, client_id)
    work = partial(rotate_secret, box=svc.secret_box, client_id=client_id, now=svc.clock())
    return JSON(_view(await svc.database.run(work)))


PATH = "/admin/clients/{client_id:str}/callback-secret"

routes = [
    endpoint(
        ADMIN,
        PATH,
        get_callback_secret,
        doc=Doc(
            "getClientCallbackSecret",
            TAG_CLIENTS,
            "Read a client's callback secret",
            "The secret that signs the callbacks of this client's sends (callback_url), made "
            "on first use; give it to the client to verify them (Standard Webhooks).",
            {200: Answer("The secret.", CallbackSecretView)},
            errors=(401, 404, 409),
            error_texts={
                404: "No such client.",
                409: "conflict: the stored secret does not open (secret_key changed): rotate it.",
            },
            path=ClientPath,
        ),
    ),
    endpoint(
        ADMIN,
        PATH + "/rotate",
        rotate_callback_secret,
        methods=["POST"],
        doc=Doc(
            "rotateClientCallbackSecret",
            TAG_CLIENTS,
            "Rotate a client's callback secret",
            "A new secret signs the client's callbacks; the old one signs beside it for 24 h "
            "(two signatures in webhook-signature), so its receiver can switch without a gap.",
            {200: Answer("The new secret.", CallbackSecretView)},
            errors=(401, 404),
            error_texts={404: "No such client."},
            path=ClientPath,
        ),
    ),
]
