"""Scoped API keys on the client surfaces: scopes, instance limits, IP allow-lists, a client's
own daily quota, and changes through PATCH /admin/clients/{id}.

Two sandbox instances; 10.0.0.0/8 is a trusted proxy; the deployment's quota is 4 a day.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.main import all_routes, create_app
from app.routes.surface import endpoint_of
from app.services import Services
from tests.conftest import ADMIN

NUMBER = "34612345678"
UUID = "00000000-0000-4000-8000-000000000000"
SCOPES = ("send", "read", "recipients", "events")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "instances": [{"number": 1, "backend": "sandbox"}, {"number": 2, "backend": "sandbox"}],
        "limits": {"messages_per_day": 4},
        "server": {"trusted_proxies": ["10.0.0.0/8"]},
    }


async def make_key(http: httpx.AsyncClient, client_id: str, **limits: Any) -> dict[str, str]:
    response = await http.post(
        "/admin/clients", json={"client_id": client_id, **limits}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    secret = response.json()["client_secret"]
    return {"X-WM-CLIENT-ID": client_id, "X-WM-CLIENT-SECRET": secret}


async def say_on(http: httpx.AsyncClient, instance: int, number: str = NUMBER) -> None:
    body = {"from": {"number": number, "first_name": "Ana"}, "text": "Hola"}
    response = await http.post(f"/admin/sandbox/{instance}/inbound", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text


async def send_native(
    http: httpx.AsyncClient, key: dict[str, str], instance: int = 1
) -> httpx.Response:
    body = {"instance": instance, "to": NUMBER, "text": "Hello"}
    return await http.post("/api/v1/messages", json=body, headers=key)


def native_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


# --- scopes -----------------------------------------------------------------------------------


async def test_a_send_only_key_is_refused_on_the_message_list_naming_read(
    http: httpx.AsyncClient,
) -> None:
    key = await make_key(http, "sender@example.com", scopes=["send"])
    message = native_error(await http.get("/api/v1/messages", headers=key), 403, "scope_missing")
    assert "'read'" in message
    assert "send" in message  # what it has


async def test_a_read_only_key_is_refused_on_native_v3_and_v1_sends(
    http: httpx.AsyncClient,
) -> None:
    await say_on(http, 1)
    key = await make_key(http, "reader@example.com", scopes=["read"])
    native_error(await send_native(http, key), 403, "scope_missing")
    v3 = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": NUMBER, "message": "Hi"},
        headers=key,
    )
    assert v3.status_code == 403
    assert list(v3.json()) == ["error_message"]
    assert "'send'" in v3.json()["error_message"]
    v1 = await http.post(
        "/v1/telegram/single/message/1", json={"number": NUMBER, "message": "Hi"}, headers=key
    )
    assert v1.status_code == 403
    assert v1.json()["success"] is False
    assert "'send'" in v1.json()["status"]


async def test_bad_credentials_on_whatsmate_are_still_474_not_403(
    http: httpx.AsyncClient,
) -> None:
    await make_key(http, "reader@example.com", scopes=["read"])
    wrong = {"X-WM-CLIENT-ID": "reader@example.com", "X-WM-CLIENT-SECRET": "0" * 32}
    response = await http.post(
        "/v3/telegram/single/text/message/1", json={"number": NUMBER, "message": "x"}, headers=wrong
    )
    assert response.status_code == 474


def _concrete(path: str) -> str:
    values = {
        "instance": "1",
        "id": UUID,
        "action_id": UUID,
        "number": NUMBER,
        "scope": "single",
        "kind": "text",
        "target": "single",
    }
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), path)


SCOPED_OPERATIONS = sorted(
    (method, _concrete(info.path), info.scope)
    for route in all_routes()
    if (info := endpoint_of(route)) is not None
    and info.surface.scoped
    and not info.public
    and info.scope is not None
    for method in info.methods
    if method != "HEAD"
)


@pytest.mark.parametrize(("method", "path", "scope"), SCOPED_OPERATIONS)
async def test_every_client_operation_refuses_a_key_without_its_scope(
    http: httpx.AsyncClient, method: str, path: str, scope: str
) -> None:
    others = [s for s in SCOPES if s != scope]
    key = await make_key(http, "limited@example.com", scopes=others)
    response = await http.request(method, path, headers=key)
    assert response.status_code == 403, response.text
    assert f"'{scope}'" in response.text


async def test_a_key_created_without_scopes_has_them_all(http: httpx.AsyncClient) -> None:
    key = await make_key(http, "all@example.com")
    for path in ("/api/v1/messages", "/api/v1/recipients", "/api/v1/events"):
        assert (await http.get(path, headers=key)).status_code == 200, path


# --- instances --------------------------------------------------------------------------------


async def test_a_key_limited_to_instance_1_cannot_send_on_instance_2(
    http: httpx.AsyncClient,
) -> None:
    await say_on(http, 1)
    await say_on(http, 2)
    key = await make_key(http, "one@example.com", instances=[1])
    assert (await send_native(http, key, 1)).status_code == 202
    message = native_error(await send_native(http, key, 2), 403, "instance_forbidden")
    assert "instance 2" in message
    v3 = await http.post(
        "/v3/telegram/single/text/message/2", json={"number": NUMBER, "message": "x"}, headers=key
    )
    assert v3.status_code == 403
    assert "instance 2" in v3.json()["error_message"]
    status = await http.get("/v1/telegram/status/2", headers=key)
    assert status.status_code == 403


async def _messages_on_both(http: httpx.AsyncClient, client_id: str) -> tuple[dict[str, str], str]:
    """A client with a message on each instance; the id of the one on instance 2."""
    await say_on(http, 1)
    await say_on(http, 2)
    key = await make_key(http, client_id)
    assert (await send_native(http, key, 1)).status_code == 202
    second = await send_native(http, key, 2)
    assert second.status_code == 202
    return key, second.json()["id"]


async def limit_to(http: httpx.AsyncClient, client_id: str, **changes: Any) -> dict[str, Any]:
    response = await http.patch(f"/admin/clients/{client_id}", json=changes, headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_message_list_of_a_limited_key_holds_only_its_instances(
    http: httpx.AsyncClient,
) -> None:
    key, _ = await _messages_on_both(http, "both@example.com")
    await limit_to(http, "both@example.com", instances=[1])
    listed = (await http.get("/api/v1/messages", headers=key)).json()["data"]
    assert [m["instance"] for m in listed] == [1]
    asked = await http.get("/api/v1/messages?instance=2", headers=key)
    native_error(asked, 403, "instance_forbidden")


async def test_a_message_on_another_instance_cannot_be_read_acted_on_or_cancelled(
    http: httpx.AsyncClient,
) -> None:
    key, other = await _messages_on_both(http, "both@example.com")
    await limit_to(http, "both@example.com", instances=[1])
    for method, path in (
        ("GET", f"/api/v1/messages/{other}"),
        ("GET", f"/api/v1/messages/{other}/actions"),
        ("POST", f"/api/v1/messages/{other}/cancel"),
        ("DELETE", f"/api/v1/messages/{other}"),
    ):
        response = await http.request(method, path, headers=key)
        native_error(response, 403, "instance_forbidden")
    # Still queued: the refused cancel did not cancel it.
    await limit_to(http, "both@example.com", instances=None)
    found = (await http.get(f"/api/v1/messages/{other}", headers=key)).json()
    assert found["status"] == "queued"


async def test_recipients_and_events_of_a_limited_key_are_those_of_its_instances(
    http: httpx.AsyncClient,
) -> None:
    await say_on(http, 1, NUMBER)
    await say_on(http, 2, "34612345679")
    key = await make_key(http, "one@example.com", instances=[1])
    recipients = (await http.get("/api/v1/recipients", headers=key)).json()["data"]
    assert {r["instance"] for r in recipients} == {1}
    events = (await http.get("/api/v1/events", headers=key)).json()["data"]
    assert events
    assert {e["instance_id"] for e in events} == {1}
    native_error(
        await http.get("/api/v1/recipients?instance=2", headers=key), 403, "instance_forbidden"
    )


async def test_unregistering_with_a_limited_key_leaves_other_instances_registered(
    http: httpx.AsyncClient,
) -> None:
    await say_on(http, 1)
    await say_on(http, 2)
    key = await make_key(http, "one@example.com", instances=[1])
    assert (await http.delete(f"/api/v1/recipients/{NUMBER}", headers=key)).status_code == 200
    full = await make_key(http, "all@example.com")
    left = (await http.get("/api/v1/recipients", headers=full)).json()["data"]
    assert [r["instance"] for r in left] == [2]


async def test_a_reachability_check_on_another_instance_is_refused(
    http: httpx.AsyncClient,
) -> None:
    key = await make_key(http, "one@example.com", instances=[1])
    response = await http.get(f"/api/v1/recipients/{NUMBER}/reachability?instance=2", headers=key)
    native_error(response, 403, "instance_forbidden")


# --- changes take effect at once ---------------------------------------------------------------


async def test_a_patch_that_removes_a_scope_applies_to_the_next_request(
    http: httpx.AsyncClient,
) -> None:
    key = await make_key(http, "ops@example.com")
    assert (await http.get("/api/v1/messages", headers=key)).status_code == 200
    await limit_to(http, "ops@example.com", scopes=["send"])
    native_error(await http.get("/api/v1/messages", headers=key), 403, "scope_missing")
    await limit_to(http, "ops@example.com", scopes=None)
    assert (await http.get("/api/v1/messages", headers=key)).status_code == 200


# --- IP allow-list -----------------------------------------------------------------------------


@pytest.fixture
def app(services: Services, http: httpx.AsyncClient) -> Starlette:
    # `http` started the instances; this app shares its services.
    return create_app(services)


async def from_peer(app: Starlette, host: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as client:
        yield client


async def status_from(
    app: Starlette, host: str, key: dict[str, str], forwarded: str | None = None
) -> httpx.Response:
    headers = {**key, **({"X-Forwarded-For": forwarded} if forwarded else {})}
    async for client in from_peer(app, host):
        return await client.get("/api/v1/messages", headers=headers)
    raise AssertionError("unreachable")


async def test_a_key_with_an_ip_allow_list_works_only_from_those_networks(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    key = await make_key(http, "ip@example.com", ip_allow=["192.0.2.0/24"])
    assert (await status_from(app, "192.0.2.7", key)).status_code == 200
    refused = await status_from(app, "198.51.100.1", key)
    assert "198.51.100.1" in native_error(refused, 403, "ip_not_allowed")


async def test_behind_a_trusted_proxy_the_forwarded_address_is_checked(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    key = await make_key(http, "ip@example.com", ip_allow=["192.0.2.0/24"])
    assert (await status_from(app, "10.0.0.2", key, "192.0.2.7")).status_code == 200
    refused = await status_from(app, "10.0.0.2", key, "198.51.100.1")
    native_error(refused, 403, "ip_not_allowed")


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(
    http: httpx.AsyncClient, app: Starlette
) -> None:
    key = await make_key(http, "ip@example.com", ip_allow=["192.0.2.0/24"])
    refused = await status_from(app, "198.51.100.1", key, "192.0.2.7")
    native_error(refused, 403, "ip_not_allowed")


# --- the client's own daily quota ----------------------------------------------------------------


async def test_a_client_quota_refuses_past_its_own_limit_with_469(
    http: httpx.AsyncClient,
) -> None:
    await say_on(http, 1)
    key = await make_key(http, "small@example.com", daily_quota=2)
    for _ in range(2):
        assert (await send_native(http, key)).status_code == 202
    refused = await send_native(http, key)
    message = native_error(refused, 469, "quota_exceeded")
    assert "small@example.com" in message
    assert "2 messages a day" in message
    assert refused.headers["Retry-After"] == str(12 * 3600)


async def test_the_deployment_quota_still_applies_to_a_client_with_a_larger_one(
    http: httpx.AsyncClient,
) -> None:
    await say_on(http, 1)
    key = await make_key(http, "big@example.com", daily_quota=100)
    for _ in range(4):
        assert (await send_native(http, key)).status_code == 202
    message = native_error(await send_native(http, key), 469, "quota_exceeded")
    assert "4 messages a day" in message
    assert "big@example.com" not in message


async def test_one_client_reaching_its_quota_leaves_the_others_sending(
    http: httpx.AsyncClient,
) -> None:
    await say_on(http, 1)
    small = await make_key(http, "small@example.com", daily_quota=1)
    other = await make_key(http, "other@example.com")
    assert (await send_native(http, small)).status_code == 202
    native_error(await send_native(http, small), 469, "quota_exceeded")
    assert (await send_native(http, other)).status_code == 202


async def test_a_v1_batch_over_the_client_quota_is_refused_whole(
    http: httpx.AsyncClient,
) -> None:
    await say_on(http, 1, NUMBER)
    await say_on(http, 1, "34612345679")
    key = await make_key(http, "small@example.com", daily_quota=1)
    batch = await http.post(
        "/v1/telegram/batch/message/1",
        json={"numbers": [NUMBER, "34612345679"], "message": "Hi"},
        headers=key,
    )
    assert batch.status_code == 469, batch.text
    assert "none was accepted" in batch.json()["status"]
    assert (await send_native(http, key)).status_code == 202  # the refused batch took nothing
