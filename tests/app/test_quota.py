"""The daily quota ([limits] messages_per_day, status 469), with a quota of two messages a day.

The `clock` fixture starts at 2026-11-25 12:00 UTC, so the quota resets in 43200 s.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Clock, say

NUMBER = "34612345678"
OTHER_NUMBER = "34612345679"
TEXT = "/v3/telegram/single/text/message/1"
MESSAGES = "/api/v1/messages"
SECONDS_TO_MIDNIGHT = 12 * 3600


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"limits": {"messages_per_day": 2}}


@pytest.fixture
async def registered(http: httpx.AsyncClient) -> str:
    await say(http, NUMBER, "Hola")
    return NUMBER


async def send_text(
    http: httpx.AsyncClient, headers: dict[str, str], number: str, text: str = "Hello"
) -> httpx.Response:
    return await http.post(TEXT, json={"number": number, "message": text}, headers=headers)


async def use_up_the_quota(http: httpx.AsyncClient, headers: dict[str, str], number: str) -> None:
    for i in range(2):
        response = await send_text(http, headers, number, f"message {i}")
        assert response.status_code == 200, response.text


def quota_error(response: httpx.Response) -> str:
    assert response.status_code == 469, response.text
    body = response.json()
    assert list(body) == ["error_message"], body
    message: str = body["error_message"]
    assert "quota" in message
    return message


async def test_the_message_after_the_daily_quota_is_refused_with_469(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    await use_up_the_quota(http, api_client, registered)
    message = quota_error(await send_text(http, api_client, registered))
    assert "2 messages a day" in message


async def test_the_469_says_in_retry_after_the_seconds_until_the_next_utc_midnight(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    await use_up_the_quota(http, api_client, registered)
    response = await send_text(http, api_client, registered)
    quota_error(response)
    assert response.headers["Retry-After"] == str(SECONDS_TO_MIDNIGHT)  # 12:00 -> 00:00 UTC
    assert f"resets in {SECONDS_TO_MIDNIGHT} s" in response.json()["error_message"]


async def test_retry_after_shrinks_as_the_day_goes_on(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, clock: Clock
) -> None:
    await use_up_the_quota(http, api_client, registered)
    clock.advance(11 * 3600 + 30 * 60)  # 23:30 UTC
    response = await send_text(http, api_client, registered)
    quota_error(response)
    assert response.headers["Retry-After"] == "1800"


async def test_the_quota_resets_at_the_next_utc_midnight(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, clock: Clock
) -> None:
    await use_up_the_quota(http, api_client, registered)
    clock.advance(SECONDS_TO_MIDNIGHT - 1)
    quota_error(await send_text(http, api_client, registered))
    clock.advance(1)
    response = await send_text(http, api_client, registered)
    assert response.status_code == 200, response.text


async def test_a_request_refused_for_an_invalid_number_does_not_count(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    refused = await send_text(http, api_client, "123")
    assert refused.status_code == 471, refused.text
    await use_up_the_quota(http, api_client, registered)


async def test_a_request_refused_for_an_unregistered_number_does_not_count(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    for _ in range(3):
        refused = await send_text(http, api_client, OTHER_NUMBER)
        assert refused.status_code == 472, refused.text
    await use_up_the_quota(http, api_client, registered)


async def test_a_refused_over_quota_request_does_not_push_the_count_further(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, clock: Clock
) -> None:
    await use_up_the_quota(http, api_client, registered)
    for _ in range(3):
        quota_error(await send_text(http, api_client, registered))
    clock.advance(SECONDS_TO_MIDNIGHT)
    await use_up_the_quota(http, api_client, registered)


async def test_the_gateways_registration_replies_do_not_count(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    for number in (NUMBER, OTHER_NUMBER, "34612345670"):
        await say(http, number, "Hi")  # each one gets a registration reply
    await use_up_the_quota(http, api_client, NUMBER)


async def test_an_idempotent_replay_does_not_count(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    headers = {**api_client, "Idempotency-Key": "once"}
    first = await send_text(http, headers, registered, "once")
    for _ in range(3):
        again = await send_text(http, headers, registered, "once")
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    second = await send_text(http, api_client, registered, "second")
    assert second.status_code == 200, second.text
    quota_error(await send_text(http, api_client, registered, "third"))


async def test_the_native_api_shares_the_quota_and_answers_469_in_its_own_shape(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    await use_up_the_quota(http, api_client, registered)
    response = await http.post(
        MESSAGES, json={"instance": 1, "to": registered, "text": "x"}, headers=api_client
    )
    assert response.status_code == 469, response.text
    assert response.json()["error"]["code"] == "quota_exceeded"
    assert response.headers["Retry-After"] == str(SECONDS_TO_MIDNIGHT)
