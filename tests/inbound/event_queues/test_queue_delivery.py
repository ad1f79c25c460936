"""What a pull queue hands out: in order, filtered, leased for its visibility timeout, handed
out again when not acknowledged in time, and never again once acknowledged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.services import Services
from tests.conftest import Clock
from tests.inbound.event_queues.helpers import QUEUES, ack, emit, make_queue, take


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"instances": [{"number": n, "backend": "sandbox"} for n in (1, 2)]}


async def test_next_hands_out_events_in_order_filtered_by_type_and_instance(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await make_queue(http, api_client, types=["message.sent", "message.read"], instance=2)
    wanted = []
    for type_, instance in [
        ("message.sent", 2),
        ("message.sent", 1),
        ("message.failed", 2),
        ("message.read", 2),
        ("message.sent", 2),
    ]:
        seq = await emit(services, type_, instance)
        if instance == 2 and type_ != "message.failed":
            wanted.append(seq)
    assert await take(http, api_client, limit=2) + await take(http, api_client) == wanted


async def test_next_answers_the_bodies_get_events_answers(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await make_queue(http, api_client)
    seq = await emit(services, "message.received")
    listed = await http.get("/api/v1/events", params={"after": seq - 1}, headers=api_client)
    taken = await http.get(f"{QUEUES}/q/next", headers=api_client)
    assert taken.json()["data"] == listed.json()["data"]
    assert taken.json()["lease_expires_at"] == "2026-11-25T12:00:30Z"


async def test_a_queue_starts_now_unless_told_to_start_earlier(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    early = [await emit(services) for _ in range(3)]
    await make_queue(http, api_client, "now")
    await make_queue(http, api_client, "after", after=early[0])
    await make_queue(http, api_client, "all", start="beginning", types=["message.sent"])
    late = await emit(services)
    assert await take(http, api_client, "now") == [late]
    assert await take(http, api_client, "after") == [*early[1:], late]
    assert await take(http, api_client, "all") == [*early, late]


async def test_next_waits_up_to_wait_s_and_answers_an_empty_list(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await make_queue(http, api_client)
    response = await http.get(f"{QUEUES}/q/next", params={"wait_s": 1}, headers=api_client)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": [], "lease_expires_at": None, "pruned_through": None}


async def test_bad_limit_or_wait_s_is_a_400(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await make_queue(http, api_client)
    for query in ({"wait_s": 61}, {"limit": 0}, {"wait_s": "soon"}):
        response = await http.get(f"{QUEUES}/q/next", params=query, headers=api_client)
        assert response.status_code == 400, (query, response.text)


async def test_events_handed_out_are_not_handed_out_again_while_the_lease_lasts(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    await make_queue(http, api_client, visibility_timeout_s=30)
    first = [await emit(services) for _ in range(2)]
    assert await take(http, api_client) == first
    clock.advance(29)
    assert await take(http, api_client) == []
    later = await emit(services)
    assert await take(http, api_client) == [later]


async def test_events_not_acknowledged_in_time_are_handed_out_again(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    await make_queue(http, api_client, visibility_timeout_s=30)
    seqs = [await emit(services) for _ in range(3)]
    assert await take(http, api_client) == seqs
    clock.advance(31)
    assert await take(http, api_client) == seqs
    queue = (await http.get(f"{QUEUES}/q", headers=api_client)).json()
    assert queue["lease_expires_at"] == "2026-11-25T12:01:01Z"
    assert queue["pending"] == 3


async def test_acknowledged_events_never_come_back(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    await make_queue(http, api_client, visibility_timeout_s=30)
    seqs = [await emit(services) for _ in range(4)]
    assert await take(http, api_client) == seqs
    acked = await ack(http, api_client, seqs[1])
    assert acked.status_code == 200, acked.text
    assert (acked.json()["acked_seq"], acked.json()["pending"]) == (seqs[1], 2)
    clock.advance(31)
    assert await take(http, api_client) == seqs[2:]
    assert (await ack(http, api_client, seqs[3])).status_code == 200
    clock.advance(31)
    assert await take(http, api_client) == []


async def test_acknowledging_an_acknowledged_seq_again_changes_nothing(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await make_queue(http, api_client)
    seqs = [await emit(services) for _ in range(2)]
    await take(http, api_client)
    assert (await ack(http, api_client, seqs[1])).status_code == 200
    again = await ack(http, api_client, seqs[1])
    behind = await ack(http, api_client, seqs[0])
    assert (again.status_code, behind.status_code) == (200, 200)
    assert behind.json()["acked_seq"] == seqs[1]


async def test_acknowledging_beyond_what_was_handed_out_is_a_409(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await make_queue(http, api_client)
    seqs = [await emit(services) for _ in range(3)]
    assert await take(http, api_client, limit=1) == seqs[:1]
    response = await ack(http, api_client, seqs[2])
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "ack_beyond_delivered"
    assert f"through seq {seqs[0]}" in error["message"]
    queue = (await http.get(f"{QUEUES}/q", headers=api_client)).json()
    assert queue["acked_seq"] == seqs[0] - 1


async def test_events_the_queue_does_not_want_are_stepped_over(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await make_queue(http, api_client, types=["message.read"])
    skipped = [await emit(services, "message.sent") for _ in range(3)]
    assert await take(http, api_client) == []
    queue = (await http.get(f"{QUEUES}/q", headers=api_client)).json()
    assert (queue["acked_seq"], queue["pending"]) == (skipped[-1], 0)
