"""WhatsMate's legacy v1 paths, through the in-process app, on SQLite and PostgreSQL.

They share v3's accept path: the same status codes, credentials, Idempotency-Key and quota. The
answers are `{"success": true, "status": "queued", "id"}` (a batch adds `ids`), the errors
`{"success": false, "status": "<text>"}`. This module runs with a small quota (5 messages a day)
and `max_recipients` 3, so both limits can be reached.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from app.models import MediaBlob
from app.services import Services
from tests.app.test_send_api_errors import odd_bodies
from tests.conftest import ADMIN, drain, say

NUMBERS = ["34612345678", "34612345679", "34612345670"]  # registered by `registered`
STRANGER = "34612345671"  # valid, never registered
SINGLE = "/v1/telegram/single/message/1"
BATCH = "/v1/telegram/batch/message/1"
GROUP = "/v1/telegram/group/message/1"
MESSAGES = "/api/v1/messages"

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + b"\x00" * 400


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"limits": {"messages_per_day": 5, "max_recipients": 3}}


@pytest.fixture
async def registered(http: httpx.AsyncClient) -> list[str]:
    for number in NUMBERS:
        await say(http, number, "Hi")
    return NUMBERS


def v1_error(response: httpx.Response, status: int) -> str:
    """The v1 error text, after checking the status and the envelope."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"success", "status"}, body
    assert body["success"] is False
    assert isinstance(body["status"], str) and body["status"].strip()
    text: str = body["status"]
    return text


def queued(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True
    assert body["status"] == "queued"
    return body


async def messages(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await http.get(MESSAGES, headers=headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def sent(http: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    response = await http.get(f"/admin/sandbox/1/sent?number={number}", headers=ADMIN)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# --- success ------------------------------------------------------------------------------------


async def test_a_single_text_is_queued_and_sent_with_the_v1_answer(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str], worker: Any
) -> None:
    response = await http.post(
        SINGLE, json={"number": NUMBERS[0], "message": "Rates are up"}, headers=api_client
    )
    body = queued(response)
    assert set(body) == {"success", "status", "id"}
    await drain(worker)
    status = await http.get(f"{MESSAGES}/{body['id']}", headers=api_client)
    assert status.json()["status"] == "sent"
    assert [r["text"] for r in await sent(http, NUMBERS[0])][-1] == "Rates are up"


async def test_the_2016_send_path_is_the_single_text_path(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str], worker: Any
) -> None:
    response = await http.post(
        "/v1/telegram/send/message/1",
        json={"number": NUMBERS[0], "message": "Old client"},
        headers=api_client,
    )
    assert set(queued(response)) == {"success", "status", "id"}
    await drain(worker)
    assert [r["text"] for r in await sent(http, NUMBERS[0])][-1] == "Old client"


async def test_a_batch_text_queues_one_message_per_number_with_ids_in_their_order(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str], worker: Any
) -> None:
    order = [NUMBERS[2], "+34 612-345-678", NUMBERS[1]]
    body = queued(
        await http.post(
            BATCH, json={"numbers": order, "message": "Stock alert"}, headers=api_client
        )
    )
    assert len(body["ids"]) == 3 and len(set(body["ids"])) == 3
    assert body["id"] == body["ids"][0]
    for message_id, number in zip(body["ids"], [NUMBERS[2], NUMBERS[0], NUMBERS[1]], strict=True):
        row = (await http.get(f"{MESSAGES}/{message_id}", headers=api_client)).json()
        assert row["to"] == number
    await drain(worker)
    for number in NUMBERS:
        assert [r["text"] for r in await sent(http, number)][-1] == "Stock alert"


async def test_a_group_text_names_the_group_by_its_title_alone(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: list[str],
    services: Services,
    worker: Any,
) -> None:
    group = {"group_name": "Night Shift Ops", "group_admin": "34611111111", "members": NUMBERS}
    assert (await http.post("/admin/sandbox/1/groups", json=group, headers=ADMIN)).is_success
    body = queued(
        await http.post(
            GROUP, json={"group": "Night Shift Ops", "message": "Backup done"}, headers=api_client
        )
    )
    with_admin = queued(
        await http.post(
            GROUP,
            json={"group": "Night Shift Ops", "group_admin": "34611111111", "message": "Again"},
            headers=api_client,
        )
    )
    await drain(worker)
    for message_id in (body["id"], with_admin["id"]):
        row = (await http.get(f"{MESSAGES}/{message_id}", headers=api_client)).json()
        assert row["status"] == "sent", row
    log = await services.telegram.sandboxes[1].sent_log()
    assert [(r["group_name"], r["text"]) for r in log if r["group_name"]] == [
        ("Night Shift Ops", "Backup done"),
        ("Night Shift Ops", "Again"),
    ]


async def test_a_group_text_without_admin_fails_when_two_groups_share_the_title(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    for admin in ("34611111111", "34622222222"):
        group = {"group_name": "Ops", "group_admin": admin, "members": []}
        assert (await http.post("/admin/sandbox/1/groups", json=group, headers=ADMIN)).is_success
    body = queued(await http.post(GROUP, json={"group": "Ops", "message": "x"}, headers=api_client))
    await drain(worker)
    row = (await http.get(f"{MESSAGES}/{body['id']}", headers=api_client)).json()
    assert (row["status"], row["error_code"]) == ("failed", "group_not_found")
    assert "give group_admin" in row["error_detail"]


@pytest.mark.parametrize(
    ("segment", "field", "data", "filename", "kind"),
    [
        ("photo", "image", PNG, None, "image"),
        ("document", "document", PDF, "invoice-0042.pdf", "document"),
        ("audio", "audio", MP3, "briefing.mp3", "audio"),
    ],
    ids=["photo", "document", "audio"],
)
async def test_every_file_kind_is_sent_single_and_batch(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: list[str],
    services: Services,
    worker: Any,
    segment: str,
    field: str,
    data: bytes,
    filename: str | None,
    kind: str,
) -> None:
    payload: dict[str, Any] = {field: b64(data), "caption": "Today's"}
    if filename:
        payload["filename"] = filename
    single = queued(
        await http.post(
            f"/v1/telegram/single/{segment}/binary/1",
            json={"number": NUMBERS[0], **payload},
            headers=api_client,
        )
    )
    batch = queued(
        await http.post(
            f"/v1/telegram/batch/{segment}/binary/1",
            json={"numbers": NUMBERS[1:], **payload},
            headers=api_client,
        )
    )
    assert set(single) == {"success", "status", "id"}
    assert len(batch["ids"]) == 2
    await drain(worker)
    for number in NUMBERS:
        last = (await sent(http, number))[-1]
        assert (last["kind"], last["size"], last["caption"]) == (kind, len(data), "Today's")
        if filename:
            assert last["filename"] == filename
    async with services.database.read() as session:
        blobs = await session.scalar(select(func.count()).select_from(MediaBlob))
    assert blobs == 2  # the batch stores its file once for both numbers


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["X-WM-CLIENT-ID", "X-WM-CLIENT-SECRET"])
async def test_a_missing_credentials_header_is_a_v1_401(
    http: httpx.AsyncClient, api_client: dict[str, str], missing: str
) -> None:
    headers = {k: v for k, v in api_client.items() if k != missing}
    response = await http.post(SINGLE, json={"number": NUMBERS[0], "message": "x"}, headers=headers)
    assert f"Missing {missing} header" in v1_error(response, 401)


async def test_a_wrong_secret_is_a_v1_474(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    headers = {**api_client, "X-WM-CLIENT-SECRET": "0" * 32}
    response = await http.post(BATCH, json={"numbers": NUMBERS, "message": "x"}, headers=headers)
    assert "Invalid CLIENT ID / Secret" in v1_error(response, 474)


@pytest.mark.parametrize(
    ("path", "body", "status", "expected"),
    [
        (SINGLE, {"number": NUMBERS[0]}, 400, "Missing field 'message'"),
        (SINGLE, {"number": NUMBERS[0], "message": "a" * 801}, 400, "801"),
        (SINGLE, {"number": "123", "message": "x"}, 471, "Destination number is invalid"),
        (SINGLE, {"number": STRANGER, "message": "x"}, 472, STRANGER),
        (BATCH, {"message": "x"}, 400, "Missing field 'numbers'"),
        (BATCH, {"numbers": NUMBERS[0], "message": "x"}, 400, "must be a list"),
        (GROUP, {"message": "x"}, 400, "Missing field 'group'"),
        (
            "/v1/telegram/single/document/binary/1",
            {"number": NUMBERS[0], "document": "", "filename": "x.pdf"},
            470,
            "present but empty",
        ),
        (
            "/v1/telegram/single/document/binary/1",
            {"number": NUMBERS[0], "filename": "x.pdf"},
            470,
            "is missing",
        ),
        (
            "/v1/telegram/single/photo/binary/1",
            {"number": NUMBERS[0], "image": b64(PDF)},
            400,
            "application/pdf",
        ),
        ("/v1/telegram/single/message/9", {"number": NUMBERS[0], "message": "x"}, 404, "9"),
        ("/v1/telegram/single/message/١", {"number": NUMBERS[0], "message": "x"}, 404, "١"),
        ("/v1/telegram/everyone/message/1", {"message": "x"}, 404, "everyone"),
        ("/v1/telegram/single/video/binary/1", {"number": NUMBERS[0]}, 404, "video"),
    ],
    ids=[
        "no-message",
        "too-long",
        "471",
        "472",
        "no-numbers",
        "numbers-not-a-list",
        "no-group",
        "empty-document",
        "missing-document",
        "not-an-image",
        "unknown-instance",
        "arabic-indic-instance",
        "unknown-target",
        "unknown-file-kind",
    ],
)
async def test_validation_errors_have_the_v3_status_in_the_v1_envelope(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: list[str],
    path: str,
    body: dict[str, Any],
    status: int,
    expected: str,
) -> None:
    assert expected in v1_error(await http.post(path, json=body, headers=api_client), status)
    assert await messages(http, api_client) == []


async def test_one_unregistered_number_refuses_the_whole_batch_naming_it(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str]
) -> None:
    response = await http.post(
        BATCH, json={"numbers": [NUMBERS[0], STRANGER], "message": "x"}, headers=api_client
    )
    assert STRANGER in v1_error(response, 472)
    assert await messages(http, api_client) == []


async def test_one_invalid_number_refuses_the_whole_batch_naming_it(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str]
) -> None:
    response = await http.post(
        BATCH, json={"numbers": [NUMBERS[0], "12ab"], "message": "x"}, headers=api_client
    )
    text = v1_error(response, 471)
    assert "'12ab'" in text and "numbers[1]" in text
    assert await messages(http, api_client) == []


async def test_a_number_given_twice_in_a_batch_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str]
) -> None:
    response = await http.post(
        BATCH,
        json={"numbers": [NUMBERS[0], NUMBERS[1], "+" + NUMBERS[0]], "message": "x"},
        headers=api_client,
    )
    text = v1_error(response, 400)
    assert f"lists {NUMBERS[0]} twice" in text
    assert await messages(http, api_client) == []


async def test_a_batch_over_max_recipients_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str]
) -> None:
    response = await http.post(
        BATCH, json={"numbers": [*NUMBERS, STRANGER], "message": "x"}, headers=api_client
    )
    assert "at most 3" in v1_error(response, 400)


async def test_location_paths_say_they_are_not_supported(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    for target in ("single", "batch"):
        response = await http.post(
            f"/v1/telegram/{target}/location/1",
            json={"number": NUMBERS[0], "latitude": 1.5, "longitude": 2.5},
            headers=api_client,
        )
        assert "Location messages are not supported" in v1_error(response, 400)
    unauthenticated = await http.post("/v1/telegram/single/location/1", json={})
    assert "Missing X-WM-CLIENT-ID header" in v1_error(unauthenticated, 401)


async def test_no_odd_body_on_any_v1_path_causes_a_server_error(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str]
) -> None:
    paths = [SINGLE, BATCH, GROUP] + [
        f"/v1/telegram/{target}/{segment}/binary/1"
        for target in ("single", "batch")
        for segment in ("photo", "document", "audio")
    ]
    extra = [orjson.dumps(v) for v in ({"numbers": [None]}, {"numbers": [[]]}, {"group": 5})]
    failures = []
    for path in paths:
        for body in [*odd_bodies(), *extra]:
            response = await http.post(
                path, content=body, headers={**api_client, "Content-Type": "application/json"}
            )
            payload = response.json()
            if not (400 <= response.status_code < 500 and payload.get("success") is False):
                failures.append(f"{path} {body[:60]!r} -> {response.status_code} {response.text}")
    assert failures == []


# --- idempotency and quota ----------------------------------------------------------------------


async def test_an_idempotent_single_replays_its_answer_and_sends_once(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str], worker: Any
) -> None:
    headers = {**api_client, "Idempotency-Key": "alert-7"}
    body = {"number": NUMBERS[0], "message": "Once"}
    first = queued(await http.post(SINGLE, json=body, headers=headers))
    await drain(worker)
    assert queued(await http.post(SINGLE, json=body, headers=headers)) == first
    assert [r["text"] for r in await sent(http, NUMBERS[0])].count("Once") == 1


async def test_an_idempotent_batch_replays_the_same_ids(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str]
) -> None:
    headers = {**api_client, "Idempotency-Key": "batch-1"}
    body = {"numbers": NUMBERS, "message": "All"}
    first = queued(await http.post(BATCH, json=body, headers=headers))
    assert queued(await http.post(BATCH, json=body, headers=headers)) == first
    assert len(await messages(http, api_client)) == 3
    other = await http.post(BATCH, json={**body, "message": "Other"}, headers=headers)
    assert "different request body" in v1_error(other, 409)


async def test_the_quota_counts_every_message_of_a_batch_and_refuses_a_batch_whole(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: list[str]
) -> None:
    queued(await http.post(BATCH, json={"numbers": NUMBERS, "message": "1"}, headers=api_client))
    over = await http.post(BATCH, json={"numbers": NUMBERS, "message": "2"}, headers=api_client)
    text = v1_error(over, 469)
    assert "These 3 messages" in text and "2 left" in text
    assert int(over.headers["Retry-After"]) > 0
    assert len(await messages(http, api_client)) == 3
    for _ in range(2):  # the two that are left
        queued(
            await http.post(SINGLE, json={"number": NUMBERS[0], "message": "s"}, headers=api_client)
        )
    last = await http.post(SINGLE, json={"number": NUMBERS[0], "message": "s"}, headers=api_client)
    assert "quota" in v1_error(last, 469)
    assert len(await messages(http, api_client)) == 5


# --- status -------------------------------------------------------------------------------------


async def test_status_is_up_for_a_ready_instance_and_keeps_its_error_shape(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.get("/v1/telegram/status/1", headers=api_client)
    assert response.json() == {"status": "up", "instance": 1}
    for raw in ("7", "١", str(2**63), "9" * 5000):
        missing = await http.get(f"/v1/telegram/status/{raw}", headers=api_client)
        assert missing.status_code == 404, (raw, missing.text)
        assert "Invalid gateway instance number" in missing.json()["error_message"]
    assert (await http.get("/v1/telegram/status/1")).status_code == 401


async def test_status_is_down_once_the_instance_is_logged_out(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    assert (await http.post("/admin/instances/1/logout", headers=ADMIN)).is_success
    response = await http.get("/v1/telegram/status/1", headers=api_client)
    assert response.json() == {"status": "down", "instance": 1}
