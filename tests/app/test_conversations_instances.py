"""Conversations on a gateway of two sandbox instances: each instance's people are its own,
and a listing is cut down to the instances asked for (or those an API key may use)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.history.reads import conversation_page
from app.services import Services
from tests.conftest import ADMIN, Clock, say

ANA = "34612345678"
BEN = "34612345679"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"instances": [{"number": 1, "backend": "sandbox"}, {"number": 2, "backend": "sandbox"}]}


async def writes_to_two(http: httpx.AsyncClient, clock: Clock) -> None:
    await say(http, ANA, "Hi")  # instance 1
    clock.advance(1)
    body = {"from": {"number": BEN, "first_name": "Ben"}, "text": "Hi"}
    response = await http.post("/admin/sandbox/2/inbound", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text


async def test_the_list_of_one_instance_shows_only_its_people(
    http: httpx.AsyncClient, api_client: dict[str, str], clock: Clock
) -> None:
    await writes_to_two(http, clock)
    every = (await http.get("/api/v1/conversations", headers=api_client)).json()["data"]
    assert [(c["instance"], c["number"]) for c in every] == [(2, BEN), (1, ANA)]
    second = await http.get("/api/v1/conversations?instance=2", headers=api_client)
    assert [c["number"] for c in second.json()["data"]] == [BEN]


async def test_a_person_of_another_instance_has_no_conversation_here(
    http: httpx.AsyncClient, api_client: dict[str, str], clock: Clock
) -> None:
    await writes_to_two(http, clock)
    response = await http.get(
        f"/api/v1/conversations/{BEN}/messages?instance=1", headers=api_client
    )
    assert response.status_code == 404
    assert "instance 1" in response.json()["error"]["message"]


async def test_the_instances_a_key_may_use_limit_the_listing(
    http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    await writes_to_two(http, clock)
    async with services.database.read() as session:
        found = await conversation_page(session, statuses=None, instances=[1], after=None, limit=10)
    assert [(person.instance, person.number) for person, _ in found] == [(1, ANA)]
