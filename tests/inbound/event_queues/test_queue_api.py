"""Pull queues through the native API: creating, listing, getting and deleting a client's
queues, and who may see them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.services import Services
from tests.conftest import ADMIN
from tests.inbound.event_queues.helpers import QUEUES, emit, make_queue


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"instances": [{"number": n, "backend": "sandbox"} for n in (1, 2)]}


async def other_client(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post(
        "/admin/clients", json={"client_id": "other@example.com"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return {
        "X-WM-CLIENT-ID": "other@example.com",
        "X-WM-CLIENT-SECRET": response.json()["client_secret"],
    }


async def test_a_queue_is_created_listed_got_and_deleted(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    before = await emit(services)
    created = await make_queue(http, api_client, "billing", types=["message.received"], instance=2)
    assert created == {
        "name": "billing",
        "types": ["message.received"],
        "instance": 2,
        "visibility_timeout_s": 30,
        "acked_seq": before,
        "leased_through_seq": before,
        "lease_expires_at": None,
        "pending": 0,
        "created_at": "2026-11-25T12:00:00Z",
    }
    await make_queue(http, api_client, "audit")
    listed = (await http.get(QUEUES, headers=api_client)).json()["data"]
    assert [q["name"] for q in listed] == ["audit", "billing"]
    got = await http.get(f"{QUEUES}/billing", headers=api_client)
    assert got.status_code == 200 and got.json() == created
    gone = await http.delete(f"{QUEUES}/billing", headers=api_client)
    assert gone.status_code == 200 and gone.json() == {"name": "billing", "deleted": True}
    again = await http.get(f"{QUEUES}/billing", headers=api_client)
    assert again.status_code == 404


async def test_creating_the_same_queue_again_answers_200_and_keeps_its_position(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    first = await make_queue(http, api_client, types=["message.sent", "message.read"])
    await emit(services)
    again = await http.post(
        QUEUES,
        json={"name": "q", "types": ["message.read", "message.sent"], "start": "beginning"},
        headers=api_client,
    )
    assert again.status_code == 200, again.text
    assert again.json()["acked_seq"] == first["acked_seq"]
    assert again.json()["pending"] == 1


async def test_a_queue_of_that_name_with_other_settings_is_a_conflict(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await make_queue(http, api_client, visibility_timeout_s=30)
    response = await http.post(
        QUEUES, json={"name": "q", "visibility_timeout_s": 60}, headers=api_client
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert "exists already with other settings" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "no spaces"}, "'name'"),
        ({"name": "x" * 65}, "'name'"),
        ({"name": ".."}, "'name'"),
        ({"name": "q", "types": ["message.nope"]}, "message.nope"),
        ({"name": "q", "types": []}, "'events' is empty"),
        ({"name": "q", "visibility_timeout_s": 0}, "'visibility_timeout_s'"),
        ({"name": "q", "start": "yesterday"}, "'start'"),
        ({"name": "q", "start": "now", "after": 3}, "'start' or 'after'"),
        ({"name": "q", "colour": "red"}, "'colour'"),
        ({"name": "q", "after": -1}, "'after'"),
    ],
)
async def test_a_bad_queue_body_is_a_400_that_says_what_is_wrong(
    http: httpx.AsyncClient, api_client: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await http.post(QUEUES, json=body, headers=api_client)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]["message"]


async def test_a_queue_of_an_unknown_instance_is_404(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.post(QUEUES, json={"name": "q", "instance": 9}, headers=api_client)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "unknown_instance"


async def test_an_unknown_queue_is_404_with_a_body_that_names_it(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/nope"),
        ("GET", "/nope/next"),
        ("POST", "/nope/ack"),
        ("DELETE", "/nope"),
        ("GET", "/not%20a%20name"),
    ]:
        body = {"seq": 1} if path.endswith("/ack") else None
        response = await http.request(method, f"{QUEUES}{path}", json=body, headers=api_client)
        assert response.status_code == 404, (method, path, response.text)
        error = response.json()["error"]
        assert error["code"] == "not_found"
        assert "No event queue named" in error["message"], error


async def test_a_client_sees_only_its_own_queues(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await make_queue(http, api_client)
    await emit(services)
    other = await other_client(http)
    assert (await http.get(QUEUES, headers=other)).json()["data"] == []
    for method, path in [("GET", "/q"), ("GET", "/q/next"), ("DELETE", "/q")]:
        response = await http.request(method, f"{QUEUES}{path}", headers=other)
        assert response.status_code == 404, (method, path, response.text)
    # The same name is free for the other client, and the first client's queue is intact.
    assert (await http.post(QUEUES, json={"name": "q"}, headers=other)).status_code == 201
    assert (await http.get(f"{QUEUES}/q", headers=api_client)).json()["pending"] == 1


async def test_queues_need_credentials(http: httpx.AsyncClient) -> None:
    response = await http.get(QUEUES)
    assert response.status_code == 401, response.text
