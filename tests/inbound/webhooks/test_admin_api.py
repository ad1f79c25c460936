"""The webhook admin API: endpoints, deliveries, replay, test events, 4xx bodies."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.services import Services
from tests.conftest import ADMIN, Clock
from tests.inbound.webhooks.helpers import (
    Receiver,
    delivery_worker,
    now_clock,
    public_dns,
    write_event,
)

URL = "https://hooks.example.com/tgw"


@pytest.fixture
def clock() -> Clock:
    return now_clock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_delivery": {"retry_schedule_s": [5.0]}}


@pytest.fixture
def admin_http(http: httpx.AsyncClient, services: Services) -> httpx.AsyncClient:
    services.resolve_host = public_dns
    return http


async def create(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/admin/webhooks", json={"url": URL, **body}, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] and error["message"]
    message: str = error["message"]
    return message


async def test_create_returns_the_id_and_a_whsec_secret(admin_http: httpx.AsyncClient) -> None:
    created = await create(admin_http, events=["message.received", "message.read"])
    assert created["id"].startswith("ep_")
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["message.received", "message.read"]
    assert created["enabled"] is True and created["source"] == "api"
    listed = (await admin_http.get("/admin/webhooks", headers=ADMIN)).json()["data"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert listed[0]["deliveries"] == {"pending": 0, "delivering": 0, "delivered": 0, "dead": 0}
    one = (await admin_http.get(f"/admin/webhooks/{created['id']}", headers=ADMIN)).json()
    assert one["secret"] == created["secret"]


async def test_create_accepts_a_given_secret(admin_http: httpx.AsyncClient) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    created = await create(admin_http, secret=secret)
    assert created["secret"] == secret


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({}, 400, "Missing field 'url'"),
        ({"url": "ftp://example.com/"}, 400, "http:// or https://"),
        ({"url": URL, "events": ["message.eaten"]}, 400, "message.eaten"),
        ({"url": URL, "events": []}, 400, "empty"),
        ({"url": URL, "events": "message.read"}, 400, "list of event types"),
        ({"url": URL, "secret": "hunter2"}, 400, "whsec_"),
        ({"url": URL, "colour": "blue"}, 400, "'colour'"),
        ({"url": ["x"]}, 400, "non-empty string"),
    ],
)
async def test_create_refuses_bad_input_saying_what_is_wrong(
    admin_http: httpx.AsyncClient, body: dict[str, Any], status: int, says: str
) -> None:
    response = await admin_http.post("/admin/webhooks", json=body, headers=ADMIN)
    assert says in error_of(response, status)


async def test_a_private_target_is_refused_unless_allowed(
    admin_http: httpx.AsyncClient,
) -> None:
    response = await admin_http.post(
        "/admin/webhooks", json={"url": "http://192.168.1.20/hook"}, headers=ADMIN
    )
    assert "allow_private_targets" in error_of(response, 400)


async def test_admin_routes_need_the_admin_token(admin_http: httpx.AsyncClient) -> None:
    for method, path in [
        ("POST", "/admin/webhooks"),
        ("GET", "/admin/webhooks"),
        ("GET", "/admin/webhooks/ep_x"),
        ("POST", "/admin/deliveries/1/replay"),
    ]:
        response = await admin_http.request(method, path)
        assert "Authorization" in error_of(response, 401)


async def test_unknown_ids_are_404_with_a_message(admin_http: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/admin/webhooks/ep_nope"),
        ("PATCH", "/admin/webhooks/ep_nope"),
        ("DELETE", "/admin/webhooks/ep_nope"),
        ("POST", "/admin/webhooks/ep_nope/rotate-secret"),
        ("POST", "/admin/webhooks/ep_nope/test"),
        ("GET", "/admin/webhooks/ep_nope/deliveries"),
        ("POST", "/admin/deliveries/12345/replay"),
        ("POST", "/admin/deliveries/abc/replay"),
    ]:
        body = {"enabled": True} if method == "PATCH" else None
        response = await admin_http.request(method, path, json=body, headers=ADMIN)
        assert "No " in error_of(response, 404), path


async def test_update_changes_url_events_and_enabled(admin_http: httpx.AsyncClient) -> None:
    endpoint_id = (await create(admin_http))["id"]
    response = await admin_http.patch(
        f"/admin/webhooks/{endpoint_id}",
        json={"url": "https://other.example.com/x", "events": ["message.sent"], "enabled": False},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["url"] == "https://other.example.com/x"
    assert view["events"] == ["message.sent"]
    assert (view["enabled"], view["status"]) == (False, "disabled")
    assert "admin API" in view["disabled_reason"]
    view = (
        await admin_http.patch(
            f"/admin/webhooks/{endpoint_id}", json={"enabled": True, "events": None}, headers=ADMIN
        )
    ).json()
    assert (view["enabled"], view["disabled_reason"], view["events"]) == (True, None, None)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"enabled": "yes"}, "'enabled' must be true or false"),
        ({"url": "http://127.0.0.1/"}, "loopback"),
        ({"secret": "whsec_x"}, "'secret'"),
        ({"events": ["nope"]}, "nope"),
    ],
)
async def test_update_refuses_bad_input(
    admin_http: httpx.AsyncClient, body: dict[str, Any], says: str
) -> None:
    endpoint_id = (await create(admin_http))["id"]
    response = await admin_http.patch(f"/admin/webhooks/{endpoint_id}", json=body, headers=ADMIN)
    assert says in error_of(response, 400)


async def test_delete_removes_the_endpoint_and_its_deliveries(
    admin_http: httpx.AsyncClient, services: Services
) -> None:
    endpoint_id = (await create(admin_http))["id"]
    await write_event(services)
    async with delivery_worker(services, Receiver()) as worker:
        await worker.step()
    response = await admin_http.delete(f"/admin/webhooks/{endpoint_id}", headers=ADMIN)
    assert response.json() == {"id": endpoint_id, "deleted": True}
    missing = await admin_http.get(f"/admin/webhooks/{endpoint_id}/deliveries", headers=ADMIN)
    assert missing.status_code == 404


async def test_rotate_gives_a_new_secret_and_keeps_the_old_one_for_24_hours(
    admin_http: httpx.AsyncClient, clock: Clock
) -> None:
    created = await create(admin_http)
    response = await admin_http.post(
        f"/admin/webhooks/{created['id']}/rotate-secret", headers=ADMIN
    )
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    until = datetime.fromisoformat(rotated["previous_secret_until"].replace("Z", "+00:00"))
    assert (until - clock.now).total_seconds() == 24 * 3600


async def test_a_test_event_is_signed_and_delivered(
    admin_http: httpx.AsyncClient, services: Services
) -> None:
    created = await create(admin_http, events=["message.read"])  # the filter does not apply
    response = await admin_http.post(f"/admin/webhooks/{created['id']}/test", headers=ADMIN)
    assert response.status_code == 202, response.text
    receiver = Receiver()
    async with delivery_worker(services, receiver) as worker:
        assert await worker.step() == 1
    [request] = receiver.requests
    body = Webhook(created["secret"]).verify(request.content, dict(request.headers))
    assert body["type"] == "webhook.test"
    assert request.headers["webhook-id"] == response.json()["event"]["id"]


async def test_deliveries_list_every_attempt(
    admin_http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    endpoint_id = (await create(admin_http))["id"]
    await write_event(services)
    receiver = Receiver()
    receiver.answers = [httpx.Response(503, text="down for maintenance")]
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
        clock.advance(10)
        await worker.step()
    response = await admin_http.get(f"/admin/webhooks/{endpoint_id}/deliveries", headers=ADMIN)
    assert response.status_code == 200, response.text
    [delivery] = response.json()["data"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    log = delivery["attempt_log"]
    assert [a["status_code"] for a in log] == [503, 200]
    assert log[0]["response_excerpt"] == "down for maintenance"
    assert all(isinstance(a["latency_ms"], int) and a["attempted_at"] for a in log)
    only_dead = await admin_http.get(
        f"/admin/webhooks/{endpoint_id}/deliveries?status=dead", headers=ADMIN
    )
    assert only_dead.json()["data"] == []
    bad = await admin_http.get(
        f"/admin/webhooks/{endpoint_id}/deliveries?status=lost", headers=ADMIN
    )
    assert "'status'" in error_of(bad, 400)


async def test_deliveries_page_back_with_before(
    admin_http: httpx.AsyncClient, services: Services
) -> None:
    endpoint_id = (await create(admin_http))["id"]
    for i in range(5):
        await write_event(services, number=f"3460000000{i}")
    async with delivery_worker(services, Receiver()) as worker:
        await worker.step()
    path = f"/admin/webhooks/{endpoint_id}/deliveries"
    first = (await admin_http.get(f"{path}?limit=3", headers=ADMIN)).json()
    assert len(first["data"]) == 3 and first["next_before"] is not None
    rest = (
        await admin_http.get(f"{path}?limit=3&before={first['next_before']}", headers=ADMIN)
    ).json()
    ids = [d["id"] for d in first["data"] + rest["data"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5


async def test_a_dead_delivery_is_replayed(
    admin_http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    endpoint_id = (await create(admin_http))["id"]
    await write_event(services)
    receiver = Receiver()
    receiver.answers = [500, 500]
    async with delivery_worker(services, receiver) as worker:
        await worker.step()
        clock.advance(10)
        await worker.step()
        listed = await admin_http.get(f"/admin/webhooks/{endpoint_id}/deliveries", headers=ADMIN)
        [dead] = listed.json()["data"]
        assert dead["status"] == "dead"
        response = await admin_http.post(f"/admin/deliveries/{dead['id']}/replay", headers=ADMIN)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
        again = await admin_http.post(f"/admin/deliveries/{dead['id']}/replay", headers=ADMIN)
        assert "pending already" in error_of(again, 409)
        assert await worker.step() == 1
    listed = await admin_http.get(f"/admin/webhooks/{endpoint_id}/deliveries", headers=ADMIN)
    [delivered] = listed.json()["data"]
    assert delivered["status"] == "delivered"
    assert [a["status_code"] for a in delivered["attempt_log"]] == [500, 500, 200]
    assert len(set(receiver.ids)) == 1  # the same webhook-id on the replay


async def test_random_bodies_and_ids_never_cause_a_500(admin_http: httpx.AsyncClient) -> None:
    endpoint_id = (await create(admin_http))["id"]
    rng = random.Random(5)
    values: list[Any] = [
        None, True, 0, -1, 2**70, 1.5, "", "x" * 3000, "\x00", "é", [], [None], {}, {"a": 1},
        "https://hooks.example.com/\x00", "http://[::1", "https://[fe80::1%25eth0]/",
    ]  # fmt: skip
    keys = ["url", "events", "enabled", "secret", "status", ""]
    paths = [
        ("POST", "/admin/webhooks"),
        ("PATCH", f"/admin/webhooks/{endpoint_id}"),
        ("POST", f"/admin/webhooks/{endpoint_id}/test"),
        ("GET", f"/admin/webhooks/{endpoint_id}/deliveries?limit=%s"),
        ("GET", f"/admin/webhooks/{endpoint_id}/deliveries?before=%s"),
        ("POST", "/admin/deliveries/%s/replay"),
        ("GET", "/admin/webhooks/%s"),
    ]
    for _ in range(150):
        method, path = rng.choice(paths)
        if "%s" in path:
            path = path % rng.choice(["-1", "x", "99999999999999999999", "%00", "1e3", ""])
        body = {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 3))}
        content = rng.choice([None, b"{", b"[]", b"null", b"\xff\xfe"])
        if content is None:
            response = await admin_http.request(method, path, json=body, headers=ADMIN)
        else:
            response = await admin_http.request(method, path, content=content, headers=ADMIN)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400:
            assert response.json()["error"]["message"]


async def test_a_secret_sealed_under_another_key_is_reported_not_a_500(
    admin_http: httpx.AsyncClient, services: Services
) -> None:
    from inbound.webhooks.endpoints import SecretBox

    endpoint_id = (await create(admin_http))["id"]
    services.secret_box = SecretBox.from_secret_key("another deployment's key")
    response = await admin_http.get(f"/admin/webhooks/{endpoint_id}", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["secret"] is None
    assert "rotate it" in response.json()["secret_problem"]
    rotated = await admin_http.post(f"/admin/webhooks/{endpoint_id}/rotate-secret", headers=ADMIN)
    assert rotated.status_code == 200
    again = await admin_http.get(f"/admin/webhooks/{endpoint_id}", headers=ADMIN)
    assert again.json()["secret"] == rotated.json()["secret"]


# --- format and token -------------------------------------------------------------------


async def test_a_whatsmate_endpoint_is_created_with_its_token_shown_to_the_admin(
    admin_http: httpx.AsyncClient,
) -> None:
    created = await create(admin_http, format="whatsmate", token="tok-1")
    assert (created["format"], created["token"], created["token_set"]) == (
        "whatsmate",
        "tok-1",
        True,
    )
    assert created["events"] == ["message.received"]  # what it receives
    listed = (await admin_http.get("/admin/webhooks", headers=ADMIN)).json()["data"]
    assert listed[0]["format"] == "whatsmate" and listed[0]["token_set"] is True
    assert "token" not in listed[0]  # the list shows whether, the single GET what
    one = (await admin_http.get(f"/admin/webhooks/{created['id']}", headers=ADMIN)).json()
    assert one["token"] == "tok-1"


async def test_an_endpoint_is_standard_without_a_token_by_default(
    admin_http: httpx.AsyncClient,
) -> None:
    created = await create(admin_http)
    assert (created["format"], created["token"], created["token_set"]) == ("standard", None, False)
    assert created["events"] is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"format": "xml"}, "'format' must be one of standard, whatsmate"),
        ({"format": None}, "'format' must be one of standard, whatsmate"),
        ({"token": ""}, "'token' must be a non-empty string"),
        ({"token": 42}, "'token' must be a non-empty string"),
        ({"token": "x" * 257}, "longer than 256"),
        ({"token": "a\nb"}, "control characters"),
        ({"format": "whatsmate", "events": ["message.sent"]}, "message.received only"),
        (
            {"format": "whatsmate", "events": ["message.received", "message.read"]},
            "message.received only",
        ),
    ],
)
async def test_bad_formats_and_tokens_are_refused_naming_the_field(
    admin_http: httpx.AsyncClient, body: dict[str, Any], says: str
) -> None:
    response = await admin_http.post("/admin/webhooks", json={"url": URL, **body}, headers=ADMIN)
    assert says in error_of(response, 400)
    listed = (await admin_http.get("/admin/webhooks", headers=ADMIN)).json()["data"]
    assert listed == []


async def test_a_whatsmate_endpoint_accepts_the_received_filter_spelled_out(
    admin_http: httpx.AsyncClient,
) -> None:
    created = await create(admin_http, format="whatsmate", events=["message.received"])
    assert created["events"] == ["message.received"]


async def test_patch_sets_and_removes_the_format_and_the_token(
    admin_http: httpx.AsyncClient,
) -> None:
    created = await create(admin_http)
    path = f"/admin/webhooks/{created['id']}"
    patched = await admin_http.patch(
        path, json={"format": "whatsmate", "token": "tok-2"}, headers=ADMIN
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["format"], patched.json()["token_set"]) == ("whatsmate", True)
    assert (await admin_http.get(path, headers=ADMIN)).json()["token"] == "tok-2"
    cleared = await admin_http.patch(path, json={"token": None}, headers=ADMIN)
    assert cleared.json()["token_set"] is False
    back = await admin_http.patch(path, json={"format": "standard"}, headers=ADMIN)
    assert (back.json()["format"], back.json()["events"]) == ("standard", None)
    one = (await admin_http.get(path, headers=ADMIN)).json()
    assert (one["format"], one["token"]) == ("standard", None)


async def test_patch_refuses_a_format_and_filter_that_do_not_go_together(
    admin_http: httpx.AsyncClient,
) -> None:
    filtered = await create(admin_http, events=["message.sent"])
    path = f"/admin/webhooks/{filtered['id']}"
    refused = await admin_http.patch(path, json={"format": "whatsmate"}, headers=ADMIN)
    assert "message.received only" in error_of(refused, 400)
    assert (await admin_http.get(path, headers=ADMIN)).json()["format"] == "standard"
    # Both at once is fine.
    both = await admin_http.patch(path, json={"format": "whatsmate", "events": None}, headers=ADMIN)
    assert both.status_code == 200, both.text
    later = await admin_http.patch(path, json={"events": ["message.read"]}, headers=ADMIN)
    assert "message.received only" in error_of(later, 400)
    bad = await admin_http.patch(path, json={"format": "xml"}, headers=ADMIN)
    assert "'format' must be one of standard, whatsmate" in error_of(bad, 400)
    unknown = await admin_http.patch(path, json={"shape": "whatsmate"}, headers=ADMIN)
    assert "'shape'" in error_of(unknown, 400)
