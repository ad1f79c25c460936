"""The admin console (app/routes/console.py, app/console_auth.py), in-process.

The page and its files, signing in and out, the cookie's flags, CSRF on cookie requests (and
none on Bearer requests), expiry and token rotation, the sign-in limiter, and the two admin
read views the console adds (GET /admin/recipients and GET /admin/messages).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from app.console_auth import SESSION_COOKIE, SESSION_TTL_S
from app.lockout import MAX_FAILURES, WINDOW_S
from app.services import Services
from tests.conftest import ADMIN, ADMIN_TOKEN, Clock, drain, say

CSP_DIRECTIVES = (
    "default-src 'self'",
    "img-src 'self' data: blob:",
    "style-src 'self'",
    "script-src 'self'",
    "frame-ancestors 'none'",
)
ANA = "34612345678"
BEA = "34622345678"


async def sign_in(http: httpx.AsyncClient, token: str = ADMIN_TOKEN) -> str:
    """Sign in (the cookie stays in the client's jar); the session's CSRF token."""
    response = await http.post("/admin/session", json={"token": token})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


def cookie_header(response: httpx.Response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)]
    assert len(headers) == 1, headers
    return headers[0]


# --- the page and its files ---------------------------------------------------------------


async def test_admin_without_slash_redirects_to_the_console(http: httpx.AsyncClient) -> None:
    response = await http.get("/admin")
    assert response.status_code == 308
    assert str(response.url.join(response.headers["location"])) == "http://tgw.test/admin/"


async def test_page_is_served_with_strict_security_headers(http: httpx.AsyncClient) -> None:
    response = await http.get("/admin/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = [d.strip() for d in response.headers["content-security-policy"].split(";")]
    for directive in CSP_DIRECTIVES:
        assert directive in csp, directive
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert 'name="viewport"' in response.text
    assert 'src="static/console.js"' in response.text
    assert 'href="static/console.css"' in response.text


async def test_static_files_have_their_types_and_the_same_headers(
    http: httpx.AsyncClient,
) -> None:
    for name, media_type in (("console.js", "text/javascript"), ("console.css", "text/css")):
        response = await http.get(f"/admin/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(media_type), name
        assert response.headers["x-content-type-options"] == "nosniff"
    missing = await http.get("/admin/static/secrets.txt")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_page_and_files_name_no_external_host(http: httpx.AsyncClient) -> None:
    """Everything comes from the gateway: no CDN, no font service, no external link."""
    for path in ("/admin/", "/admin/static/console.js", "/admin/static/console.css"):
        text = (await http.get(path)).text
        assert not re.search(r"https?://", text, re.IGNORECASE), path
        assert not re.search(r"""(src|href)\s*=\s*["']?//""", text), path  # protocol-relative
        assert "@import" not in text and "url(" not in text, path


async def test_page_has_no_inline_code_for_the_policy_to_block(http: httpx.AsyncClient) -> None:
    page = (await http.get("/admin/")).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script"
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page), "inline event handler"
    for ref in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert ref.startswith(("static/", "#", "data:")), ref


async def test_script_never_writes_html(http: httpx.AsyncClient) -> None:
    script = (await http.get("/admin/static/console.js")).text
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert unsafe not in script, unsafe
    assert "textContent" in script
    assert "X-CSRF-Token" in script


# --- signing in ---------------------------------------------------------------------------


async def test_right_token_signs_in_with_a_strict_http_only_cookie(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/admin/session", json={"token": ADMIN_TOKEN})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["signed_in"] is True
    assert len(body["csrf_token"]) >= 32
    assert body["expires_at"] == "2026-11-26T00:00:00Z"  # the test clock + 12 h
    flags = [f.strip().lower() for f in cookie_header(response).split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/admin" in flags
    assert f"max-age={SESSION_TTL_S}" in flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    assert ADMIN_TOKEN not in cookie_header(response)


async def test_cookie_is_secure_when_the_request_is_https(services: Services) -> None:
    from app.main import create_app

    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="https://tgw.test") as https:
        response = await https.post("/admin/session", json={"token": ADMIN_TOKEN})
    assert response.status_code == 200, response.text
    assert "secure" in [f.strip().lower() for f in cookie_header(response).split(";")]


async def test_sign_in_accepts_a_form_body(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/session", data={"token": ADMIN_TOKEN})
    assert response.status_code == 200, response.text
    assert (await http.get("/admin/clients")).status_code == 200


async def test_wrong_token_is_401_with_a_clear_message(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/session", json={"token": "not-the-token"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert "admin token is wrong" in error["message"]
    assert "tgw admin-token" in error["message"]
    assert "set-cookie" not in response.headers


async def test_missing_token_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/session", json={})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_field"


async def test_an_unknown_sign_in_field_is_400_naming_it(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/session", json={"token": ADMIN_TOKEN, "remember": True})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_field"
    assert "'remember'" in error["message"]
    assert "set-cookie" not in response.headers


async def test_repeated_wrong_tokens_lock_the_address_out_for_a_while(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    for _ in range(MAX_FAILURES):
        assert (await http.post("/admin/session", json={"token": "guess"})).status_code == 401
    locked = await http.post("/admin/session", json={"token": "another guess"})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["retry-after"]) <= WINDOW_S
    assert "set-cookie" not in locked.headers
    clock.advance(WINDOW_S + 1)
    assert (await http.post("/admin/session", json={"token": "guess"})).status_code == 401


async def test_a_locked_address_still_signs_in_with_the_right_token(
    http: httpx.AsyncClient,
) -> None:
    for _ in range(MAX_FAILURES):
        assert (await http.post("/admin/session", json={"token": "guess"})).status_code == 401
    assert (await http.post("/admin/session", json={"token": "guess"})).status_code == 429
    await sign_in(http)
    assert (await http.get("/admin/clients")).status_code == 200


async def test_a_right_token_resets_the_count_of_wrong_ones(http: httpx.AsyncClient) -> None:
    for _ in range(MAX_FAILURES - 1):
        assert (await http.post("/admin/session", json={"token": "guess"})).status_code == 401
    await sign_in(http)
    for _ in range(MAX_FAILURES - 1):
        assert (await http.post("/admin/session", json={"token": "guess"})).status_code == 401
    await sign_in(http)


async def test_get_session_gives_the_csrf_token_again(http: httpx.AsyncClient) -> None:
    assert (await http.get("/admin/session")).status_code == 401
    csrf = await sign_in(http)
    again = await http.get("/admin/session")
    assert again.status_code == 200
    assert again.json()["csrf_token"] == csrf


# --- the admin API with the cookie --------------------------------------------------------


async def test_cookie_session_reads_the_admin_api(http: httpx.AsyncClient) -> None:
    assert (await http.get("/admin/instances")).status_code == 401
    await sign_in(http)
    response = await http.get("/admin/instances")
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["number"] == 1


async def test_cookie_request_that_changes_state_needs_the_csrf_header(
    http: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(http)
    body = {"client_id": "console@example.com"}
    missing = await http.post("/admin/clients", json=body)
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf"
    wrong = await http.post("/admin/clients", json=body, headers={"X-CSRF-Token": csrf[:-2]})
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "csrf"
    assert (await http.get("/admin/clients")).json()["data"] == []
    created = await http.post("/admin/clients", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    assert created.json()["client_secret"]


async def test_csrf_token_of_another_session_does_not_pass(http: httpx.AsyncClient) -> None:
    other = await sign_in(http)
    await sign_in(http)  # the jar now holds the second session's cookie
    response = await http.post(
        "/admin/clients", json={"client_id": "x@example.com"}, headers={"X-CSRF-Token": other}
    )
    assert response.status_code == 403


async def test_bearer_requests_need_no_csrf_token(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/admin/clients", json={"client_id": "ops@example.com"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text


async def test_an_authorization_header_is_judged_alone(http: httpx.AsyncClient) -> None:
    csrf = await sign_in(http)
    response = await http.get(
        "/admin/clients", headers={"Authorization": "Bearer wrong", "X-CSRF-Token": csrf}
    )
    assert response.status_code == 401


async def test_session_ends_after_twelve_hours(http: httpx.AsyncClient, clock: Clock) -> None:
    await sign_in(http)
    clock.advance(SESSION_TTL_S - 1)
    assert (await http.get("/admin/clients")).status_code == 200
    clock.advance(1)
    expired = await http.get("/admin/clients")
    assert expired.status_code == 401
    assert "sign in again" in expired.json()["error"]["message"]


async def test_rotating_the_admin_token_ends_every_session(
    http: httpx.AsyncClient, services: Services
) -> None:
    await sign_in(http)
    services.admin_token = "a-new-admin-token"
    assert (await http.get("/admin/clients")).status_code == 401
    await sign_in(http, "a-new-admin-token")
    assert (await http.get("/admin/clients")).status_code == 200


async def test_a_tampered_cookie_is_refused(http: httpx.AsyncClient) -> None:
    await sign_in(http)
    value = http.cookies[SESSION_COOKIE]
    version, session_id, expires, mac = value.split(".")
    for forged in (
        f"{version}.{session_id}.{int(expires) + 3600}.{mac}",  # a longer life
        f"{version}.{session_id}x.{expires}.{mac}",
        f"{version}.{session_id}.{expires}.{mac[:-1]}{'B' if mac.endswith('A') else 'A'}",
        "v1.a.b.c",
        "",
    ):
        http.cookies.clear()
        http.cookies.set(SESSION_COOKIE, forged, domain="tgw.test", path="/admin")
        assert (await http.get("/admin/clients")).status_code == 401, forged


# --- signing out --------------------------------------------------------------------------


async def test_sign_out_needs_the_csrf_token_then_ends_the_session(
    http: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(http)
    old_cookie = http.cookies[SESSION_COOKIE]
    refused = await http.delete("/admin/session")
    assert refused.status_code == 403
    assert (await http.get("/admin/clients")).status_code == 200

    response = await http.delete("/admin/session", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200
    assert response.json() == {"signed_in": False}
    cleared = [f.strip().lower() for f in cookie_header(response).split(";")]
    assert cleared[0] == f'{SESSION_COOKIE}=""' or cleared[0] == f"{SESSION_COOKIE}="
    assert "max-age=0" in cleared
    assert SESSION_COOKIE not in http.cookies
    # The same cookie, replayed (say, copied before the sign-out), no longer works here.
    http.cookies.set(SESSION_COOKIE, old_cookie, domain="tgw.test", path="/admin")
    assert (await http.get("/admin/clients")).status_code == 401
    assert (await http.get("/admin/session")).status_code == 401


async def test_signing_out_twice_with_a_copy_of_the_cookie_is_harmless(
    http: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(http)
    cookie = http.cookies[SESSION_COOKIE]
    assert (await http.delete("/admin/session", headers={"X-CSRF-Token": csrf})).status_code == 200
    http.cookies.set(SESSION_COOKIE, cookie, domain="tgw.test", path="/admin")
    again = await http.delete("/admin/session", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 200  # already ended: the cookie is just cleared
    await sign_in(http)
    assert (await http.get("/admin/clients")).status_code == 200


async def test_sign_out_without_a_session_just_clears_the_cookie(
    http: httpx.AsyncClient,
) -> None:
    response = await http.delete("/admin/session")
    assert response.status_code == 200
    assert "max-age=0" in cookie_header(response).lower()


# --- GET /admin/recipients ----------------------------------------------------------------


async def test_admin_recipients_filter_by_status_like_the_api(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, ANA, "Hi")
    await say(http, BEA, "Hola", phone_visible=False)  # asked for a contact card: pending
    await sign_in(http)

    async def numbers(status: str | None) -> list[str | None]:
        params = {"status": status} if status else {}
        response = await http.get("/admin/recipients", params=params)
        assert response.status_code == 200, response.text
        api = await http.get("/api/v1/recipients", params=params, headers=api_client)
        assert response.json() == api.json()  # the same answer as the API's
        return [r["number"] for r in response.json()["data"]]

    assert await numbers(None) == [ANA]
    assert await numbers("registered") == [ANA]
    assert await numbers("pending") == [None]  # the number is not known until the card comes
    assert await numbers("unregistered") == []
    assert await numbers("all") == [ANA, None]
    bad = await http.get("/admin/recipients", params={"status": "everyone"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_field"


async def test_admin_read_views_need_the_admin(http: httpx.AsyncClient) -> None:
    for path in ("/admin/recipients", "/admin/messages"):
        response = await http.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthorized"
        assert (await http.get(path, headers=ADMIN)).status_code == 200, path


# --- GET /admin/messages ------------------------------------------------------------------


async def _send(http: httpx.AsyncClient, client: dict[str, str], text: str) -> str:
    response = await http.post(
        "/v3/telegram/single/text/message/1", json={"number": ANA, "message": text}, headers=client
    )
    assert response.status_code == 200, response.text
    message_id: str = response.json()["id"]
    return message_id


async def _second_client(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post("/admin/clients", json={"client_id": "b@example.com"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {
        "X-WM-CLIENT-ID": "b@example.com",
        "X-WM-CLIENT-SECRET": response.json()["client_secret"],
    }


async def test_admin_messages_filter_by_status_across_clients(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    other = await _second_client(http)
    await say(http, ANA, "Hi")  # the gateway's confirmation is a message of no client
    sent = [await _send(http, api_client, "one"), await _send(http, other, "two")]
    await drain(worker)
    clock.advance(1)
    queued = [await _send(http, other, "three")]

    async def ids(**params: str) -> list[str]:
        response = await http.get("/admin/messages", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["data"]]

    every_sent = await ids(status="sent")
    assert set(sent) < set(every_sent) and len(every_sent) == 3  # and the confirmation
    assert await ids(status="queued") == queued
    assert await ids(status="failed") == []
    assert len(await ids()) == 4
    bad = await http.get("/admin/messages", params={"status": "lost"}, headers=ADMIN)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_field"


async def test_admin_messages_page_newest_first_with_a_cursor(
    http: httpx.AsyncClient, api_client: dict[str, str], clock: Clock
) -> None:
    await say(http, ANA, "Hi")
    confirmation = (await http.get("/admin/messages", headers=ADMIN)).json()["data"][0]["id"]
    clock.advance(1)
    sent = []
    for i in range(5):
        sent.append(await _send(http, api_client, f"m{i}"))
        clock.advance(1)
    await sign_in(http)

    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": "2", **({"after": after} if after else {})}
        page = (await http.get("/admin/messages", params=params)).json()
        seen.extend(m["id"] for m in page["data"])
        after = page["next"]
        if after is None:
            break
    assert seen == [*sent[::-1], confirmation]

    oldest = await http.get("/admin/messages", params={"order": "oldest"})
    api = await http.get("/api/v1/messages", headers=api_client)
    # The API's rendering and order (the API shows only its client's: not the confirmation).
    assert oldest.json()["data"] == [
        *[m for m in oldest.json()["data"] if m["id"] == confirmation],
        *api.json()["data"],
    ]
    assert [m["id"] for m in oldest.json()["data"]] == [confirmation, *sent]
    unknown = await http.get("/admin/messages", params={"after": "nope"})
    assert unknown.status_code == 400


@pytest.mark.parametrize("order", ["sideways", "0"])
async def test_admin_messages_refuse_an_unknown_order(http: httpx.AsyncClient, order: str) -> None:
    response = await http.get("/admin/messages", params={"order": order}, headers=ADMIN)
    assert response.status_code == 400
    assert "'order'" in response.json()["error"]["message"]


async def test_the_console_session_sets_a_webhooks_format_and_token(
    http: httpx.AsyncClient, services: Services
) -> None:
    """What the webhook page sends (POST with format and token, then PATCH) through the
    cookie session, CSRF included."""

    async def public(host: str) -> list[str]:
        return ["93.184.216.34"]

    services.resolve_host = public
    csrf = await sign_in(http)
    body = {
        "url": "https://hooks.example.com/wm",
        "events": None,
        "format": "whatsmate",
        "token": "tok-console",
    }
    assert (await http.post("/admin/webhooks", json=body)).status_code == 403  # no CSRF
    created = await http.post("/admin/webhooks", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    path = f"/admin/webhooks/{created.json()['id']}"
    assert (await http.get(path)).json()["token"] == "tok-console"  # what the edit form shows
    change = {"format": "standard", "token": None}
    patched = await http.patch(path, json=change, headers={"X-CSRF-Token": csrf})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["format"], patched.json()["token_set"]) == ("standard", False)
    bad = await http.patch(path, json={"format": "xml"}, headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 400
    assert "'format' must be one of standard, whatsmate" in bad.json()["error"]["message"]


async def test_the_console_takes_its_statuses_and_event_types_from_the_vocabulary(
    http: httpx.AsyncClient,
) -> None:
    from app.vocabulary import DeliveryStatus, EventType, MessageStatus, values

    page = await http.get("/admin/")
    assert page.text.index('src="static/vocabulary.js"') < page.text.index(
        'src="static/console.js"'
    )
    script = await http.get("/admin/static/vocabulary.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "content-security-policy" in script.headers
    words = json.loads(
        script.text.removeprefix("window.TGW_VOCABULARY = Object.freeze(").removesuffix(");\n")
    )
    assert words["MESSAGE_STATUSES"] == list(values(MessageStatus))
    assert words["DELIVERY_STATUSES"] == list(values(DeliveryStatus))
    assert words["EVENT_TYPES"] == list(values(EventType))
    console = (await http.get("/admin/static/console.js")).text
    assert '"message.received"' not in console  # no second copy of the list


# --- API clients' scoped keys -------------------------------------------------------------


async def test_the_console_creates_a_client_with_scopes_and_lists_its_limits(
    http: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(http)
    body = {
        "client_id": "console@example.com",
        "scopes": ["send"],
        "instances": [1],
        "daily_quota": 50,
        "ip_allow": ["10.0.0.0/8"],
    }
    created = await http.post("/admin/clients", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201, created.text
    (listed,) = (await http.get("/admin/clients")).json()["data"]
    assert listed["scopes"] == ["send"]
    assert listed["instances"] == [1]
    assert listed["daily_quota"] == 50
    assert listed["ip_allow"] == ["10.0.0.0/8"]
    assert listed["last_used_at"] is None


async def test_the_console_changes_a_clients_limits_with_its_csrf_token(
    http: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(http)
    await http.post(
        "/admin/clients", json={"client_id": "console@example.com"}, headers={"X-CSRF-Token": csrf}
    )
    path = "/admin/clients/console@example.com"
    refused = await http.patch(path, json={"scopes": ["read"]})
    assert refused.status_code == 403
    changed = await http.patch(path, json={"scopes": ["read"]}, headers={"X-CSRF-Token": csrf})
    assert changed.status_code == 200, changed.text
    assert changed.json()["scopes"] == ["read"]


async def test_the_console_vocabulary_lists_the_scopes(http: httpx.AsyncClient) -> None:
    script = await http.get("/admin/static/vocabulary.js")
    words = json.loads(
        script.text.removeprefix("window.TGW_VOCABULARY = Object.freeze(").removesuffix(");\n")
    )
    assert words["SCOPES"] == ["send", "read", "recipients", "events"]
