"""GET /api/v1/recipients/{number}/reachability and POST /api/v1/recipients/reachability,
through the sandbox: every answer, what sends teach, the cache, and the bounds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.models import Message
from app.services import Services
from app.telegram.port import Reachability, UserPeer
from tests.conftest import ADMIN, Clock, drain, say

NUMBER = "34612345678"
OTHER = "14155552671"
STRANGER = "4915112345678"


async def reach(
    http: httpx.AsyncClient, headers: dict[str, str], number: str = NUMBER
) -> dict[str, Any]:
    response = await http.get(
        f"/api/v1/recipients/{number}/reachability?instance=1", headers=headers
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def reach_many(
    http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await http.post("/api/v1/recipients/reachability", json=body, headers=headers)


async def person(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/admin/sandbox/1/people", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def fault(http: httpx.AsyncClient, **body: Any) -> None:
    response = await http.post("/admin/sandbox/1/faults", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text


async def send(http: httpx.AsyncClient, headers: dict[str, str], number: str = NUMBER) -> str:
    body = {"instance": 1, "to": number, "text": "Your order shipped"}
    response = await http.post("/api/v1/messages", json=body, headers=headers)
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def error_code(services: Services, message_id: str) -> str | None:
    async with services.database.read() as session:
        row = await session.get(Message, message_id)
    assert row is not None
    return row.error_code


def count_asks(services: Services) -> list[list[int]]:
    """The user ids each call of the sandbox's reachability asked about, from now on."""
    sandbox = services.telegram.sandboxes[1]
    asked: list[list[int]] = []
    original = sandbox.reachability

    async def counted(peers: Any) -> dict[int, Reachability]:
        asked.append([peer.user_id for peer in peers])
        return await original(peers)

    sandbox.reachability = counted  # type: ignore[method-assign]
    return asked


# --- every answer -----------------------------------------------------------------------------


async def test_a_registered_person_is_registered_as_telegram_tells(
    http: httpx.AsyncClient, api_client: dict[str, str], clock: Clock
) -> None:
    await say(http, NUMBER, "Hi")
    answer = await reach(http, api_client)
    assert answer["reachability"] == "registered"
    assert answer["source"] == "telegram"
    assert answer["number"] == NUMBER and answer["instance"] == 1
    assert answer["checked_at"] == clock.now.isoformat().replace("+00:00", "Z")
    assert answer["detail"]


async def test_a_number_that_never_said_hi_is_unregistered(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    answer = await reach(http, api_client, STRANGER)
    assert (answer["reachability"], answer["source"]) == ("unregistered", "stored")


async def test_a_person_who_was_unregistered_is_unregistered(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, NUMBER, "Hi")
    removed = await http.delete(f"/api/v1/recipients/{NUMBER}", headers=api_client)
    assert removed.status_code == 200, removed.text
    assert (await reach(http, api_client))["reachability"] == "unregistered"


async def test_a_premium_only_person_is_premium_required(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, NUMBER, "Hi")
    await person(http, number=NUMBER, requires="premium")
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("premium_required", "telegram")


async def test_a_person_who_charges_stars_is_paid_messages_required(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, NUMBER, "Hi")
    await person(http, number=NUMBER, requires="paid_messages", stars=250)
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("paid_messages_required", "telegram")


async def test_a_deleted_account_is_deactivated(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, NUMBER, "Hi")
    await person(http, number=NUMBER, deactivated=True)
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("deactivated", "telegram")


async def test_a_person_whose_last_send_was_blocked_is_blocked(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="blocked", number=NUMBER)
    message_id = await send(http, api_client)
    await drain(worker)
    assert await error_code(services, message_id) == "user_blocked"
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("blocked", "stored")
    assert "user_blocked" in answer["detail"]


async def test_nothing_known_and_telegram_not_reachable_is_unknown(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, NUMBER, "Hi")
    logged_out = await http.post("/admin/instances/1/logout", headers=ADMIN)
    assert logged_out.status_code == 200, logged_out.text
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("unknown", "stored")
    assert "NotLoggedIn" in answer["detail"]


# --- stored facts -----------------------------------------------------------------------------


async def test_a_send_that_reaches_them_clears_blocked(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="blocked", number=NUMBER)
    await send(http, api_client)
    await drain(worker)
    await send(http, api_client)  # they unblocked the account meanwhile
    await drain(worker)
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("registered", "stored")


async def test_a_new_registration_clears_blocked(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, clock: Clock
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="blocked", number=NUMBER)
    await send(http, api_client)
    await drain(worker)
    clock.advance(60)
    await http.delete(f"/api/v1/recipients/{NUMBER}", headers=api_client)
    await say(http, NUMBER, "Hi")  # registered again; its welcome reply is not sent yet
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("registered", "telegram")


async def test_a_send_refused_for_premium_fails_with_premium_required_and_is_remembered(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await person(http, number=NUMBER, requires="premium")
    message_id = await send(http, api_client)
    await drain(worker)
    assert await error_code(services, message_id) == "premium_required"
    asked = count_asks(services)
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("premium_required", "stored")
    assert asked == []


async def test_a_send_refused_for_payment_fails_with_paid_messages_required(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await person(http, number=NUMBER, requires="paid_messages")
    message_id = await send(http, api_client)
    await drain(worker)
    assert await error_code(services, message_id) == "paid_messages_required"
    assert (await reach(http, api_client))["reachability"] == "paid_messages_required"


async def test_a_send_to_a_deleted_account_fails_with_user_deactivated(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await person(http, number=NUMBER, deactivated=True)
    message_id = await send(http, api_client)
    await drain(worker)
    assert await error_code(services, message_id) == "user_deactivated"


@pytest.mark.parametrize("error", ["premium_required", "paid_messages_required"])
async def test_a_sandbox_fault_fails_the_send_with_its_own_error_code(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    error: str,
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error=error, number=NUMBER)
    message_id = await send(http, api_client)
    await drain(worker)
    assert await error_code(services, message_id) == error


async def test_a_person_made_ordinary_again_takes_messages(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await person(http, number=NUMBER, requires="premium")
    again = await person(http, number=NUMBER, requires=None, deactivated=False)
    assert again == {"number": NUMBER, "requires": None, "stars": None, "deactivated": False}
    message_id = await send(http, api_client)
    await drain(worker)
    assert await error_code(services, message_id) is None


# --- the cache --------------------------------------------------------------------------------


async def test_a_second_check_within_the_hour_does_not_ask_telegram_again(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    await say(http, NUMBER, "Hi")
    await person(http, number=NUMBER, requires="premium")
    asked = count_asks(services)
    first = await reach(http, api_client)
    clock.advance(59 * 60)
    second = await reach(http, api_client)
    assert len(asked) == 1
    assert (first["source"], second["source"]) == ("telegram", "stored")
    assert second["reachability"] == "premium_required"
    assert second["checked_at"] == first["checked_at"]


async def test_after_an_hour_telegram_is_asked_again(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    await say(http, NUMBER, "Hi")
    await person(http, number=NUMBER, requires="premium")
    asked = count_asks(services)
    await reach(http, api_client)
    await person(http, number=NUMBER, requires=None)  # they changed their privacy settings
    clock.advance(60 * 60)
    answer = await reach(http, api_client)
    assert len(asked) == 2
    assert (answer["reachability"], answer["source"]) == ("registered", "telegram")


async def test_a_stale_answer_is_given_from_storage_when_telegram_cannot_be_asked(
    http: httpx.AsyncClient, api_client: dict[str, str], clock: Clock
) -> None:
    await say(http, NUMBER, "Hi")
    await person(http, number=NUMBER, requires="paid_messages")
    first = await reach(http, api_client)
    await http.post("/admin/instances/1/logout", headers=ADMIN)
    clock.advance(2 * 60 * 60)
    answer = await reach(http, api_client)
    assert (answer["reachability"], answer["source"]) == ("paid_messages_required", "stored")
    assert answer["checked_at"] == first["checked_at"]


async def test_a_blocked_person_is_not_asked_about(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    clock: Clock,
) -> None:
    await say(http, NUMBER, "Hi")
    await drain(worker)
    await fault(http, error="blocked", number=NUMBER)
    await send(http, api_client)
    await drain(worker)
    asked = count_asks(services)
    clock.advance(3 * 60 * 60)  # Telegram cannot tell who blocked the account
    assert (await reach(http, api_client))["reachability"] == "blocked"
    assert asked == []


# --- the batch form ---------------------------------------------------------------------------


async def test_the_batch_answers_each_distinct_number_in_order_with_one_question(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await say(http, NUMBER, "Hi")
    await say(http, OTHER, "Hi")
    await person(http, number=OTHER, requires="premium")
    asked = count_asks(services)
    body = {"instance": 1, "numbers": [STRANGER, "+34 612 345 678", OTHER, NUMBER]}
    response = await reach_many(http, api_client, body)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert answers["instance"] == 1
    assert [(a["number"], a["reachability"]) for a in answers["data"]] == [
        (STRANGER, "unregistered"),
        (NUMBER, "registered"),
        (OTHER, "premium_required"),
    ]
    assert len(asked) == 1 and len(asked[0]) == 2


async def test_the_batch_takes_numbers_as_integers_too(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await reach_many(http, api_client, {"numbers": [int(STRANGER)]})
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["number"] == STRANGER


# --- refusals ---------------------------------------------------------------------------------


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


async def test_more_than_a_hundred_numbers_is_a_400(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    numbers = [f"3461234{i:04d}" for i in range(101)]
    response = await reach_many(http, api_client, {"numbers": numbers})
    assert "at most 100 items" in error_of(response, 400, "invalid_field")


async def test_no_numbers_is_a_400(http: httpx.AsyncClient, api_client: dict[str, str]) -> None:
    response = await reach_many(http, api_client, {"numbers": []})
    assert "numbers" in error_of(response, 400, "invalid_field")
    response = await reach_many(http, api_client, {"instance": 1})
    assert "numbers" in error_of(response, 400, "missing_field")


async def test_an_unknown_field_is_a_400_naming_it(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await reach_many(http, api_client, {"numbers": [NUMBER], "number": NUMBER})
    assert "'number'" in error_of(response, 400, "invalid_field")


async def test_a_bad_number_in_the_batch_is_refused_naming_it(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await reach_many(http, api_client, {"numbers": [NUMBER, "12ab"]})
    assert "12ab" in error_of(response, 471, "number_invalid")


async def test_a_bad_number_in_the_path_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.get("/api/v1/recipients/123/reachability", headers=api_client)
    error_of(response, 471, "number_invalid")


async def test_an_unknown_instance_is_a_404(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.get(
        f"/api/v1/recipients/{NUMBER}/reachability?instance=7", headers=api_client
    )
    error_of(response, 404, "unknown_instance")
    response = await reach_many(http, api_client, {"instance": 7, "numbers": [NUMBER]})
    error_of(response, 404, "unknown_instance")


async def test_the_check_needs_an_api_client(http: httpx.AsyncClient) -> None:
    response = await http.get(f"/api/v1/recipients/{NUMBER}/reachability")
    assert response.status_code == 401, response.text
    response = await reach_many(http, {}, {"numbers": [NUMBER]})
    assert response.status_code == 401, response.text


async def test_the_people_control_refuses_an_unknown_requirement(
    http: httpx.AsyncClient,
) -> None:
    body = {"number": NUMBER, "requires": "gold"}
    response = await http.post("/admin/sandbox/1/people", json=body, headers=ADMIN)
    assert "requires" in error_of(response, 400, "invalid_field")


async def test_the_sandbox_tells_a_person_it_does_not_know_as_unknown(
    http: httpx.AsyncClient, services: Services
) -> None:
    await say(http, NUMBER, "Hi")
    sandbox = services.telegram.sandboxes[1]
    answers = await sandbox.reachability([UserPeer(123, 456)])
    assert answers == {123: "unknown"}
