"""Admin and sandbox input: path and query integers are bounded ASCII numbers, every body is
validated, and unknown fields are refused with a 400 that names them (found by fuzzing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.models import ApiClient
from app.services import Services
from app.telegram.sandbox.tables import SandboxFault
from tests.conftest import ADMIN

HUGE = "99999999999999999999"  # past 2**63: OverflowError in the database driver before
ARABIC_ONE = "\u0661"  # ARABIC-INDIC DIGIT ONE: str.isdigit() and int() accept it

# Every admin operation with an instance number in its path.
INSTANCE_OPERATIONS = [
    ("GET", "/admin/instances/{n}"),
    ("POST", "/admin/instances/{n}/login"),
    ("GET", "/admin/instances/{n}/login"),
    ("POST", "/admin/instances/{n}/login/code"),
    ("POST", "/admin/instances/{n}/login/password"),
    ("POST", "/admin/instances/{n}/login/qr"),
    ("GET", "/admin/instances/{n}/login/qr.png"),
    ("POST", "/admin/instances/{n}/logout"),
    ("PUT", "/admin/instances/{n}/profile"),
    ("PUT", "/admin/instances/{n}/profile/photo"),
    ("GET", "/admin/instances/{n}/profile/photo"),
    ("GET", "/admin/instances/{n}/sessions"),
    ("DELETE", "/admin/instances/{n}/sessions/1"),
    ("POST", "/admin/instances/{n}/check"),
    ("POST", "/admin/sandbox/{n}/inbound"),
    ("GET", "/admin/sandbox/{n}/sent"),
    ("POST", "/admin/sandbox/{n}/read"),
    ("POST", "/admin/sandbox/{n}/groups"),
    ("POST", "/admin/sandbox/{n}/faults"),
    ("POST", "/admin/sandbox/{n}/people"),
    ("POST", "/admin/sandbox/{n}/new-login"),
    ("POST", "/admin/sandbox/{n}/spambot"),
    ("POST", "/admin/sandbox/{n}/scan"),
]


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


async def test_an_instance_number_past_64_bits_is_an_unknown_instance(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(f"/admin/instances/{HUGE}", headers=ADMIN)
    error_of(response, 404, "unknown_instance")


@pytest.mark.parametrize("number", [HUGE, str(2**63), str(2**31), "0", "-1", ARABIC_ONE])
@pytest.mark.parametrize(("method", "path"), INSTANCE_OPERATIONS)
async def test_an_instance_number_that_cannot_be_one_is_404_on_every_operation(
    http: httpx.AsyncClient, method: str, path: str, number: str
) -> None:
    response = await http.request(method, path.format(n=number), json={}, headers=ADMIN)
    error_of(response, 404, "unknown_instance")


async def test_arabic_indic_digits_are_not_an_instance_number(http: httpx.AsyncClient) -> None:
    # Instance 1 exists: the same number in another script's digits must not reach it.
    assert (await http.get("/admin/instances/1", headers=ADMIN)).status_code == 200
    response = await http.get(f"/admin/instances/{ARABIC_ONE}", headers=ADMIN)
    error_of(response, 404, "unknown_instance")
    response = await http.get(f"/admin/sandbox/{ARABIC_ONE}/sent", headers=ADMIN)
    error_of(response, 404, "unknown_instance")


async def test_the_legacy_status_refuses_other_scripts_digits(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    assert (await http.get("/v1/telegram/status/1", headers=api_client)).status_code == 200
    for number in (ARABIC_ONE, HUGE):
        response = await http.get(f"/v1/telegram/status/{number}", headers=api_client)
        assert response.status_code == 404, response.text


async def test_a_replayed_delivery_id_in_other_digits_is_not_found(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(f"/admin/deliveries/{ARABIC_ONE}/replay", headers=ADMIN)
    error_of(response, 404, "not_found")


@pytest.mark.parametrize("limit", [ARABIC_ONE + "0", "1e3", HUGE, "-0x1"])
async def test_query_integers_are_ascii_and_bounded(http: httpx.AsyncClient, limit: str) -> None:
    response = await http.get("/admin/messages", params={"limit": limit}, headers=ADMIN)
    assert "'limit'" in error_of(response, 400, "invalid_field")


async def test_a_fault_whose_error_is_an_object_is_400_naming_the_field(
    http: httpx.AsyncClient, services: Services
) -> None:
    response = await http.post(
        "/admin/sandbox/1/faults", json={"error": {}, "number": "14155552671"}, headers=ADMIN
    )
    message = error_of(response, 400, "invalid_field")
    assert "'error'" in message and "blocked" in message  # names the field and the choices
    async with services.database.read() as session:
        assert await session.scalar(select(func.count()).select_from(SandboxFault)) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"flood_wait_s": 2**31}, "flood_wait_s"),
        ({"flood_wait_s": "5"}, "flood_wait_s"),
        ({"error": "blocked", "times": 0}, "times"),
        ({"error": "blocked", "times": True}, "times"),
        ({"error": "nonsense"}, "error"),
    ],
)
async def test_fault_values_out_of_type_or_range_are_400(
    http: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await http.post("/admin/sandbox/1/faults", json=body, headers=ADMIN)
    assert f"'{field}'" in error_of(response, 400, "invalid_field")


async def test_a_misspelt_limit_is_refused_not_a_client_without_limits(
    http: httpx.AsyncClient, services: Services
) -> None:
    # "scope" for "scopes": taken silently, it would make a key with every scope.
    response = await http.post(
        "/admin/clients",
        json={"client_id": "ops@example.com", "scope": ["send"]},
        headers=ADMIN,
    )
    message = error_of(response, 400, "invalid_field")
    assert "'scope'" in message and "scopes" in message
    async with services.database.read() as session:
        assert await session.scalar(select(func.count()).select_from(ApiClient)) == 0


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/admin/clients/ops@example.com/renew", {"expires": "2030-01-01"}, "'expires'"),
        (
            "/admin/sandbox/1/inbound",
            {"from": {"number": "14155552671", "nick": "x"}, "text": "Hi"},
            "'from.nick'",
        ),
        (
            "/admin/sandbox/1/inbound",
            {"from": {"number": "14155552671"}, "text": "Hi", "silent": True},
            "'silent'",
        ),
        ("/admin/sandbox/1/read", {"number": "14155552671", "max_message_id": 1, "x": 1}, "'x'"),
        ("/admin/sandbox/1/groups", {"group_name": "g", "group_admin": "1", "admins": []}, "'ad"),
        ("/admin/sandbox/1/new-login", {"device": "d", "ip": "1.2.3.4"}, "'ip'"),
        ("/admin/sandbox/1/spambot", {"reply": None, "delay_s": 1}, "'delay_s'"),
        ("/admin/instances/1/login", {"phone": "14155552671", "force": True}, "'force'"),
        ("/admin/instances/1/profile", {"first_name": "A", "bio": "b"}, "'bio'"),
    ],
)
async def test_unknown_fields_are_refused_and_named(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], named: str
) -> None:
    response = await http.request(
        "PUT" if path.endswith("/profile") else "POST", path, json=body, headers=ADMIN
    )
    message = error_of(response, 400, "invalid_field")
    assert "unknown field" in message and named in message, message


async def test_the_unknown_field_message_lists_the_body_names(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/admin/sandbox/1/inbound", json={"from": {"number": "1"}, "to": "x"}, headers=ADMIN
    )
    message = error_of(response, 400, "invalid_field")
    accepted = "accepted: contact, from, group, location, media, mentions_account, reply_to, text"
    assert accepted in message, message


async def test_a_read_mark_past_32_bits_is_400_not_a_database_error(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/admin/sandbox/1/read",
        json={"number": "14155552671", "max_message_id": 2**31},
        headers=ADMIN,
    )
    assert "'max_message_id'" in error_of(response, 400, "invalid_field")


async def test_over_long_sandbox_names_are_400_on_every_database(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/admin/sandbox/1/inbound",
        json={"from": {"number": "14155552671", "username": "u" * 65}, "text": "Hi"},
        headers=ADMIN,
    )
    assert "'from.username'" in error_of(response, 400, "invalid_field")


async def test_a_contact_number_in_other_digits_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/admin/sandbox/1/inbound",
        json={"from": {"number": "14155552671"}, "contact": {"number": ARABIC_ONE * 8}},
        headers=ADMIN,
    )
    error_of(response, 400, "invalid_field")


async def test_a_missing_field_is_missing_field(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/sandbox/1/read", json={"number": "1"}, headers=ADMIN)
    assert "'max_message_id'" in error_of(response, 400, "missing_field")
    response = await http.post("/admin/sandbox/1/inbound", json={"text": "Hi"}, headers=ADMIN)
    assert "'from'" in error_of(response, 400, "missing_field")


async def test_a_new_login_needs_no_body(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/sandbox/1/new-login", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["device"] == "Telegram Desktop, 5.0, Windows 10"


async def test_valid_bodies_still_work(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/admin/clients",
        json={"client_id": "ops@example.com", "expires_at": "2030-01-01"},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    fault = await http.post(
        "/admin/sandbox/1/faults",
        json={"error": "blocked", "number": 14155552671, "times": 2},
        headers=ADMIN,
    )
    assert fault.status_code == 201, fault.text
    code = await http.post("/admin/instances/1/login/code", json={"code": 12345}, headers=ADMIN)
    assert code.status_code == 409, code.text  # no login waiting: the int code was accepted
    assert code.json()["error"]["code"] == "no_login"
