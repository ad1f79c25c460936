"""Admin API: logging an instance in and out, its profile, its sessions, its standing."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.account.onboarding import qr_png
from app.account.profile import MAX_PHOTO_INPUT_BYTES
from app.cluster.forward import HeldElsewhere, held_elsewhere
from app.errors import ApiError
from app.models import Instance
from app.routes import onboarding_docs as ops
from app.routes import onboarding_schemas as shown
from app.routes.admin import _instance_number, _json, _sandbox
from app.routes.admin_schemas import Profile
from app.routes.bodies import parse_body
from app.routes.common import JSON, read_body, services
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN
from app.telegram.port import SpamBotUnclear
from app.telegram.spambot import classify


async def _known_instance(request: Request) -> int:
    number = _instance_number(request)
    async with services(request).database.read() as session:
        if await session.get(Instance, number) is None:
            raise ApiError("unknown_instance", f"No instance {number}")
    return number


async def _owned_instance(request: Request) -> int:
    """An instance whose session this process owns (app/lease.py): only the owner may log it
    in or out or change its profile, or two processes would fight over one session."""
    number = await _known_instance(request)
    if held_elsewhere(request, number):
        raise HeldElsewhere(number)  # passed to the holder (app/cluster/forward.py), or 409
    return number


async def _from_holder(request: Request, number: int) -> Response | None:
    """What the session's holder answers, when another process holds it (a login's state
    lives in the holder)."""
    if not held_elsewhere(request, number):
        return None
    return await HeldElsewhere(number).answer(request)


def _login(state: dict[str, Any]) -> Response:
    return JSON(shown.LoginState.model_validate(state))


async def start_login(request: Request) -> Response:
    number = await _owned_instance(request)
    phone = parse_body(shown.PhoneBody, await _json(request)).phone
    return _login(await services(request).accounts.onboarding.start_code(number, phone))


async def submit_code(request: Request) -> Response:
    number = await _owned_instance(request)
    code = parse_body(shown.CodeBody, await _json(request)).code
    onboarding = services(request).accounts.onboarding
    return _login(await onboarding.submit_code(number, str(code)))


async def submit_password(request: Request) -> Response:
    number = await _owned_instance(request)
    # The password is passed on and forgotten: never logged, never stored.
    password = parse_body(shown.PasswordBody, await _json(request)).password
    return _login(await services(request).accounts.onboarding.submit_password(number, password))


async def start_qr(request: Request) -> Response:
    number = await _owned_instance(request)
    return _login(await services(request).accounts.onboarding.start_qr(number))


async def login_state(request: Request) -> Response:
    number = await _known_instance(request)
    if (forwarded := await _from_holder(request, number)) is not None:
        return forwarded
    return _login(services(request).accounts.onboarding.state(number))


async def login_qr_png(request: Request) -> Response:
    number = await _known_instance(request)
    if (forwarded := await _from_holder(request, number)) is not None:
        return forwarded
    url = services(request).accounts.onboarding.qr_url(number)
    if url is None:
        raise ApiError("not_found", f"No QR login is waiting on instance {number}")
    return Response(qr_png(url), media_type="image/png", headers={"Cache-Control": "no-store"})


async def logout(request: Request) -> Response:
    number = await _owned_instance(request)
    await services(request).accounts.onboarding.logout(number)
    return JSON(shown.LoggedOut(status="logged_out", instance=number))


async def put_profile(request: Request) -> Response:
    number = await _owned_instance(request)
    data = parse_body(shown.ProfileBody, await _json(request))
    svc = services(request)
    await svc.accounts.profiles.set_names(
        number, data.first_name, data.last_name or None, data.about or None
    )
    conf = svc.settings.instance(number)
    view = await svc.accounts.profiles.view(number, conf.profile if conf else None)
    return JSON(Profile.model_validate(view))


async def put_photo(request: Request) -> Response:
    number = await _owned_instance(request)
    body = await read_body(request, MAX_PHOTO_INPUT_BYTES)
    svc = services(request)
    photo = await svc.accounts.profiles.set_photo(number, body)
    view = await svc.accounts.profiles.view(number, None)
    return JSON(
        shown.ProfilePhoto(photo_url=view["photo_url"], width=photo.width, height=photo.height)
    )


async def get_photo(request: Request) -> Response:
    number = await _known_instance(request)
    data = await services(request).accounts.profiles.photo(number)
    if data is None:
        raise ApiError("not_found", f"Instance {number} has no profile picture set by tgw")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private"})


# Telegram's session hashes are signed 64-bit integers, written in decimal.
_HASH = re.compile(r"-?[0-9]{1,19}")
_HASH_RANGE = range(-(2**63), 2**63)


def _session_hash(request: Request) -> int:
    raw = request.path_params["hash"]
    if not _HASH.fullmatch(raw) or int(raw) not in _HASH_RANGE:
        raise ApiError(
            "invalid_field", f"{raw!r} is not a session hash: use one from GET .../sessions"
        )
    return int(raw)


async def list_sessions(request: Request) -> Response:
    number = await _owned_instance(request)
    found = await services(request).accounts.sessions.list(number)
    return JSON(shown.SessionList.model_validate({"data": found}))


async def end_session(request: Request) -> Response:
    number = await _owned_instance(request)
    hash_ = _session_hash(request)
    await services(request).accounts.sessions.end(number, hash_)
    return JSON(shown.SessionEnded(hash=str(hash_), ended=True))


async def check_standing(request: Request) -> Response:
    """Ask @SpamBot whether the account is limited (app/account/health.py sets the status)."""
    number = await _owned_instance(request)
    checked = await services(request).accounts.health.check(number)
    return JSON(shown.StandingCheck.model_validate(checked.as_dict()))


async def sandbox_spambot(request: Request) -> Response:
    sandbox = _sandbox(request)
    reply = parse_body(shown.SpamBotBody, await _json(request)).reply
    text = await sandbox.set_spambot_reply(reply)
    try:
        condition: str | None = classify(text).condition
    except SpamBotUnclear:
        condition = None  # a check then answers 502 spambot_unrecognised, as on Telegram
    return JSON(shown.SpamBotAnswer.model_validate({"reply": text, "condition": condition}))


async def sandbox_scan(request: Request) -> Response:
    sandbox = _sandbox(request)
    if not sandbox.scan():
        raise ApiError(
            "no_login",
            f"No QR login is waiting on sandbox instance {sandbox.instance}:"
            " start one with POST /admin/instances/{n}/login/qr",
        )
    return JSON(shown.Scanned(scanned=True))


routes = [
    endpoint(ADMIN, f"/admin/{path}", handler, methods=[method], doc=doc)
    for path, handler, method, doc in (
        ("instances/{n:str}/login", start_login, "POST", ops.START_LOGIN),
        ("instances/{n:str}/login", login_state, "GET", ops.LOGIN_STATE),
        ("instances/{n:str}/login/code", submit_code, "POST", ops.SUBMIT_CODE),
        ("instances/{n:str}/login/password", submit_password, "POST", ops.SUBMIT_PASSWORD),
        ("instances/{n:str}/login/qr", start_qr, "POST", ops.START_QR),
        ("instances/{n:str}/login/qr.png", login_qr_png, "GET", ops.QR_PNG),
        ("instances/{n:str}/logout", logout, "POST", ops.LOGOUT),
        ("instances/{n:str}/profile", put_profile, "PUT", ops.SET_PROFILE),
        ("instances/{n:str}/profile/photo", put_photo, "PUT", ops.SET_PHOTO),
        ("instances/{n:str}/profile/photo", get_photo, "GET", ops.GET_PHOTO),
        ("instances/{n:str}/sessions", list_sessions, "GET", ops.LIST_SESSIONS),
        ("instances/{n:str}/sessions/{hash:str}", end_session, "DELETE", ops.END_SESSION),
        ("instances/{n:str}/check", check_standing, "POST", ops.CHECK_STANDING),
        ("sandbox/{n:str}/scan", sandbox_scan, "POST", ops.SANDBOX_SCAN),
        ("sandbox/{n:str}/spambot", sandbox_spambot, "POST", ops.SANDBOX_SPAMBOT),
    )
]
