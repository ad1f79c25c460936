"""Every status on the WhatsMate send endpoints, provoked through the in-process app.

Errors on /v3 are `{"error_message": "<precise text>"}`; on /api/v1 they are
`{"error": {"code", "message"}}`. No input may produce a 500. The daily quota (469) has its own
module, test_quota.py, because it needs a smaller quota in the settings.
"""

from __future__ import annotations

import base64
import gc
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from app.routes.whatsmate import max_body_bytes
from app.settings import LimitsSettings
from tests.conftest import ADMIN, Clock, drain, say

NUMBER = "34612345678"  # a valid Spanish mobile; registered by the `registered` fixture
OTHER_NUMBER = "34612345679"  # valid, never registered
TEXT = "/v3/telegram/single/text/message/1"
IMAGE = "/v3/telegram/single/image/message/1"
DOCUMENT = "/v3/telegram/single/document/message/1"
MESSAGES = "/api/v1/messages"
MIB = 1024 * 1024

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def error_message(response: httpx.Response, status: int) -> str:
    """The WhatsMate error text, after checking the status and that the body has that one key."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and list(body) == ["error_message"], body
    message = body["error_message"]
    assert isinstance(message, str) and message.strip(), body
    return message


def native_error(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, dict) and list(body) == ["error"], body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, body
    assert isinstance(error["code"], str) and isinstance(error["message"], str), body
    return error


@pytest.fixture
async def registered(http: httpx.AsyncClient) -> str:
    """NUMBER has said Hi to instance 1."""
    await say(http, NUMBER, "Hola")
    return NUMBER


async def create_client(
    http: httpx.AsyncClient, client_id: str, expires_at: str | None = None
) -> dict[str, str]:
    body: dict[str, Any] = {"client_id": client_id}
    if expires_at is not None:
        body["expires_at"] = expires_at
    response = await http.post("/admin/clients", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"X-WM-CLIENT-ID": client_id, "X-WM-CLIENT-SECRET": response.json()["client_secret"]}


async def list_messages(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await http.get(MESSAGES, headers=headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def sent_log(http: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    response = await http.get(f"/admin/sandbox/1/sent?number={number}", headers=ADMIN)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# --- 400: the body ------------------------------------------------------------------------------


async def test_malformed_json_is_refused_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.post(
        TEXT,
        content=b'{"number": "34612345678", "message": ',
        headers={**api_client, "Content-Type": "application/json"},
    )
    assert "not valid JSON" in error_message(response, 400)


async def test_an_empty_body_is_refused_with_400_saying_no_json_was_received(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.post(TEXT, content=b"", headers=api_client)
    assert "No JSON data received" in error_message(response, 400)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"], ids=repr)
async def test_json_that_is_not_an_object_is_refused_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str], body: bytes
) -> None:
    response = await http.post(TEXT, content=body, headers=api_client)
    assert "must be a JSON object" in error_message(response, 400)


async def test_a_text_without_message_is_refused_with_400_naming_the_field(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(TEXT, json={"number": registered}, headers=api_client)
    assert "'message'" in error_message(response, 400)


async def test_a_text_of_801_characters_is_refused_with_400_giving_length_and_limit(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        TEXT, json={"number": registered, "message": "a" * 801}, headers=api_client
    )
    message = error_message(response, 400)
    assert "801" in message
    assert "800" in message


async def test_a_text_of_exactly_800_characters_is_accepted(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        TEXT, json={"number": registered, "message": "a" * 800}, headers=api_client
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "queued"


async def test_a_caption_over_the_limit_is_refused_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        IMAGE,
        json={"number": registered, "image": b64(PNG), "caption": "c" * 1025},
        headers=api_client,
    )
    message = error_message(response, 400)
    assert "caption" in message
    assert "1025" in message
    assert "1024" in message


async def test_a_caption_at_the_limit_is_accepted(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        IMAGE,
        json={"number": registered, "image": b64(PNG), "caption": "c" * 1024},
        headers=api_client,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("a\x00b.pdf", "NUL character"),
        ("..", "not a file name"),
        ("../..//", "nothing usable is left"),
        ("x" * 300 + ".pdf", "1 to 255 characters"),
    ],
    ids=["nul", "dots-only", "only-separators", "too-long"],
)
async def test_a_bad_filename_is_refused_with_400_saying_what_is_wrong(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: str,
    filename: str,
    expected: str,
) -> None:
    response = await http.post(
        DOCUMENT,
        json={"number": registered, "document": b64(PDF), "filename": filename},
        headers=api_client,
    )
    message = error_message(response, 400)
    assert "filename" in message
    assert expected in message


@pytest.mark.parametrize(
    ("filename", "sent_as"),
    [
        ("../x.pdf", "x.pdf"),
        ("dir\\x.pdf", "dirx.pdf"),
        ("report|final.pdf", "reportfinal.pdf"),
    ],
    ids=["parent-dir", "backslash", "pipe"],
)
async def test_path_separators_and_special_characters_are_removed_from_a_filename(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: str,
    worker: Any,
    filename: str,
    sent_as: str,
) -> None:
    response = await http.post(
        DOCUMENT,
        json={"number": registered, "document": b64(PDF), "filename": filename},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    await drain(worker)
    assert (await sent_log(http, registered))[-1]["filename"] == sent_as


@pytest.mark.parametrize("body_filename", [None, ""], ids=["absent", "empty"])
async def test_a_document_without_filename_is_refused_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, body_filename: str | None
) -> None:
    body: dict[str, Any] = {"number": registered, "document": b64(PDF)}
    if body_filename is not None:
        body["filename"] = body_filename
    response = await http.post(DOCUMENT, json=body, headers=api_client)
    assert "Missing field 'filename'" in error_message(response, 400)


@pytest.mark.parametrize("value", ["not base64!!", "QQ==QQ==", "=", "SGVsbG8*"], ids=repr)
async def test_undecodable_base64_is_refused_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, value: str
) -> None:
    response = await http.post(
        DOCUMENT,
        json={"number": registered, "document": value, "filename": "x.pdf"},
        headers=api_client,
    )
    assert "not valid standard base64" in error_message(response, 400)


async def test_an_image_that_is_actually_a_pdf_is_refused_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        IMAGE, json={"number": registered, "image": b64(PDF)}, headers=api_client
    )
    message = error_message(response, 400)
    assert "'image' must be a JPEG, PNG or WebP picture" in message
    assert "application/pdf" in message


# --- 401, 474: credentials ----------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["X-WM-CLIENT-ID", "X-WM-CLIENT-SECRET"])
async def test_a_missing_credentials_header_is_refused_with_401_naming_it(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, missing: str
) -> None:
    headers = {k: v for k, v in api_client.items() if k != missing}
    response = await http.post(
        TEXT, json={"number": registered, "message": "Hello"}, headers=headers
    )
    assert f"Missing {missing} header" in error_message(response, 401)


async def test_no_credentials_at_all_is_refused_with_401(http: httpx.AsyncClient) -> None:
    response = await http.post(TEXT, json={"number": NUMBER, "message": "Hello"})
    assert "Missing X-WM-CLIENT-ID header" in error_message(response, 401)


async def test_a_wrong_secret_is_refused_with_474(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    headers = {**api_client, "X-WM-CLIENT-SECRET": "0" * 32}
    response = await http.post(
        TEXT, json={"number": registered, "message": "Hello"}, headers=headers
    )
    assert "Invalid CLIENT ID / Secret" in error_message(response, 474)


async def test_an_unknown_client_id_is_refused_with_474(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    headers = {**api_client, "X-WM-CLIENT-ID": "nobody@example.com"}
    response = await http.post(
        TEXT, json={"number": registered, "message": "Hello"}, headers=headers
    )
    assert "Invalid CLIENT ID / Secret" in error_message(response, 474)


async def test_a_revoked_client_is_refused_with_474_saying_it_was_revoked(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    revoke = await http.post("/admin/clients/ops@example.com/revoke", headers=ADMIN)
    assert revoke.status_code == 200, revoke.text
    response = await http.post(
        TEXT, json={"number": registered, "message": "Hello"}, headers=api_client
    )
    message = error_message(response, 474)
    assert "ops@example.com" in message
    assert "revoked" in message


async def test_an_expired_client_is_refused_with_474_saying_it_expired_and_when(
    http: httpx.AsyncClient, clock: Clock, registered: str
) -> None:
    expires_at = clock.now + timedelta(days=1)
    headers = await create_client(http, "expiring@example.com", expires_at.isoformat())
    body = {"number": registered, "message": "Hello"}
    before = await http.post(TEXT, json=body, headers=headers)
    assert before.status_code == 200, before.text
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    message = error_message(await http.post(TEXT, json=body, headers=headers), 474)
    assert "expiring@example.com" in message
    assert "expired" in message
    assert expires_at.date().isoformat() in message  # 2026-11-26
    assert "renew" in message


async def test_renewing_an_expired_client_keeps_the_same_secret_working(
    http: httpx.AsyncClient, clock: Clock, registered: str
) -> None:
    headers = await create_client(
        http, "renewed@example.com", (clock.now + timedelta(days=1)).isoformat()
    )
    clock.advance(timedelta(days=2).total_seconds())
    body = {"number": registered, "message": "Hello"}
    error_message(await http.post(TEXT, json=body, headers=headers), 474)
    renew = await http.post(
        "/admin/clients/renewed@example.com/renew",
        json={"expires_at": (clock.now + timedelta(days=365)).isoformat()},
        headers=ADMIN,
    )
    assert renew.status_code == 200, renew.text
    assert "client_secret" not in renew.json()
    assert renew.json()["client_id"] == "renewed@example.com"
    response = await http.post(TEXT, json=body, headers=headers)
    assert response.status_code == 200, response.text


# --- 404: instance and path ---------------------------------------------------------------------


@pytest.mark.parametrize("instance", ["9", "0", "abc"])
async def test_an_unknown_instance_is_refused_with_404(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, instance: str
) -> None:
    response = await http.post(
        f"/v3/telegram/single/text/message/{instance}",
        json={"number": registered, "message": "Hello"},
        headers=api_client,
    )
    message = error_message(response, 404)
    assert "Invalid gateway instance number" in message
    assert instance in message


async def test_an_unknown_kind_is_refused_with_404_listing_the_kinds(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        "/v3/telegram/single/video/message/1",
        json={"number": registered, "message": "Hello"},
        headers=api_client,
    )
    message = error_message(response, 404)
    assert "Unknown message kind 'video'" in message
    assert "voice_note" in message


async def test_an_unknown_scope_is_refused_with_404(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        "/v3/telegram/broadcast/text/message/1",
        json={"number": registered, "message": "Hello"},
        headers=api_client,
    )
    assert "use single or group" in error_message(response, 404)


# --- 409: Idempotency-Key -----------------------------------------------------------------------


async def test_the_same_idempotency_key_and_body_returns_the_same_id_and_sends_once(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, worker: Any
) -> None:
    headers = {**api_client, "Idempotency-Key": "order-512"}
    body = {"number": registered, "message": "Build #512 finished"}
    first = await http.post(TEXT, json=body, headers=headers)
    second = await http.post(TEXT, json=body, headers=headers)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json()
    assert len(await list_messages(http, api_client)) == 1
    await drain(worker)
    third = await http.post(TEXT, json=body, headers=headers)
    assert third.json() == first.json()
    texts = [row["text"] for row in await sent_log(http, registered)]
    assert texts.count("Build #512 finished") == 1
    assert len(await list_messages(http, api_client)) == 1


async def test_an_idempotency_key_reused_with_another_body_is_refused_with_409(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    headers = {**api_client, "Idempotency-Key": "order-512"}
    first = await http.post(TEXT, json={"number": registered, "message": "A"}, headers=headers)
    assert first.status_code == 200, first.text
    response = await http.post(TEXT, json={"number": registered, "message": "B"}, headers=headers)
    message = error_message(response, 409)
    assert "Idempotency-Key" in message
    assert "different request body" in message
    assert len(await list_messages(http, api_client)) == 1


async def test_the_same_idempotency_key_of_another_client_is_independent(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    other = await create_client(http, "other@example.com")
    first = await http.post(
        TEXT,
        json={"number": registered, "message": "A"},
        headers={**api_client, "Idempotency-Key": "k1"},
    )
    second = await http.post(
        TEXT,
        json={"number": registered, "message": "B"},
        headers={**other, "Idempotency-Key": "k1"},
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["id"] != second.json()["id"]


async def test_an_idempotency_key_longer_than_255_characters_is_refused_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    headers = {**api_client, "Idempotency-Key": "k" * 300}
    response = await http.post(
        TEXT, json={"number": registered, "message": "Hello"}, headers=headers
    )
    assert "Idempotency-Key" in error_message(response, 400)


# --- 413: sizes ---------------------------------------------------------------------------------


async def test_a_decoded_image_one_byte_over_2_mib_is_refused_with_413(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    image = PNG + b"\0" * (2 * MIB + 1 - len(PNG))
    response = await http.post(
        IMAGE, json={"number": registered, "image": b64(image)}, headers=api_client
    )
    message = error_message(response, 413)
    assert "'image'" in message
    assert "limit" in message


async def test_a_decoded_image_of_exactly_2_mib_is_accepted(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    image = PNG + b"\0" * (2 * MIB - len(PNG))
    response = await http.post(
        IMAGE, json={"number": registered, "image": b64(image)}, headers=api_client
    )
    assert response.status_code == 200, response.text


async def test_a_body_whose_content_length_is_far_over_the_limit_is_refused_unread(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    chunks_read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        for _ in range(64):
            chunks_read += 1
            yield b"x" * MIB

    headers = {**api_client, "Content-Type": "application/json", "Content-Length": str(64 * MIB)}
    response = await http.post(DOCUMENT, content=body(), headers=headers)
    message = error_message(response, 413)
    assert str(64 * MIB) in message
    assert "largest accepted" in message
    assert chunks_read <= 1


async def test_a_chunked_body_over_the_limit_is_refused_before_it_is_read_whole(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    chunks_read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        for _ in range(64):
            chunks_read += 1
            yield b"x" * MIB

    headers = {**api_client, "Content-Type": "application/json"}
    response = await http.post(DOCUMENT, content=body(), headers=headers)
    assert "largest accepted" in error_message(response, 413)
    assert chunks_read < 10


# --- 470, 471, 472: media and destination -------------------------------------------------------


async def test_an_image_send_without_image_is_refused_with_470(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(IMAGE, json={"number": registered}, headers=api_client)
    message = error_message(response, 470)
    assert "Image cannot be empty" in message
    assert "'image'" in message


async def test_an_image_send_with_an_empty_image_is_refused_with_470(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(IMAGE, json={"number": registered, "image": ""}, headers=api_client)
    assert "Image cannot be empty" in error_message(response, 470)


async def test_a_document_send_with_an_empty_document_is_refused_with_470(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        DOCUMENT,
        json={"number": registered, "document": "", "filename": "x.pdf"},
        headers=api_client,
    )
    assert "Document cannot be empty" in error_message(response, 470)


@pytest.mark.parametrize("number", ["123", "abc", "3461234", "+34 612", "34 612 345 678 999"])
async def test_an_invalid_destination_number_is_refused_with_471(
    http: httpx.AsyncClient, api_client: dict[str, str], number: str
) -> None:
    response = await http.post(
        TEXT, json={"number": number, "message": "Hello"}, headers=api_client
    )
    message = error_message(response, 471)
    assert "Destination number is invalid" in message
    assert repr(number) in message


async def test_a_valid_but_unregistered_number_is_refused_with_472(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.post(
        TEXT, json={"number": OTHER_NUMBER, "message": "Hello"}, headers=api_client
    )
    message = error_message(response, 472)
    assert OTHER_NUMBER in message
    assert "has not registered" in message
    assert await list_messages(http, api_client) == []


async def test_a_number_that_said_stop_is_refused_with_472_again(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    body = {"number": registered, "message": "Hello"}
    assert (await http.post(TEXT, json=body, headers=api_client)).status_code == 200
    await say(http, registered, "STOP")
    message = error_message(await http.post(TEXT, json=body, headers=api_client), 472)
    assert registered in message
    assert "opted out" in message


# --- Native API (/api/v1) -----------------------------------------------------------------------


async def test_native_json_send_answers_202_with_the_message_resource(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        MESSAGES, json={"instance": 1, "to": registered, "text": "Hello"}, headers=api_client
    )
    assert response.status_code == 202, response.text
    resource = response.json()
    assert {
        "id",
        "instance",
        "to",
        "kind",
        "status",
        "error_code",
        "telegram_message_id",
        "created_at",
        "sent_at",
        "read_at",
        "failed_at",
    } <= set(resource)
    assert resource["instance"] == 1
    assert resource["to"] == registered
    assert resource["kind"] == "text"
    assert resource["status"] == "queued"
    assert resource["sent_at"] is None
    fetched = await http.get(f"{MESSAGES}/{resource['id']}", headers=api_client)
    assert fetched.json() == resource


async def test_native_validation_error_has_code_and_message(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        MESSAGES, json={"instance": 1, "to": registered, "text": "a" * 801}, headers=api_client
    )
    error = native_error(response, 400)
    assert error["code"] == "text_too_long"
    assert "801" in error["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"instance": 1, "to": "123", "text": "x"}, 471, "number_invalid"),
        ({"instance": 1, "to": OTHER_NUMBER, "text": "x"}, 472, "recipient_not_registered"),
        ({"instance": 9, "to": NUMBER, "text": "x"}, 404, "unknown_instance"),
        ({"instance": 1, "to": NUMBER, "media": {"kind": "image"}}, 470, "media_missing"),
    ],
    ids=["471", "472", "404", "470"],
)
async def test_native_errors_use_the_same_status_codes_as_whatsmate(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    assert (
        native_error(await http.post(MESSAGES, json=body, headers=api_client), status)["code"]
        == code
    )


async def test_native_missing_credentials_is_a_native_401(http: httpx.AsyncClient) -> None:
    response = await http.post(MESSAGES, json={"to": NUMBER, "text": "x"})
    assert native_error(response, 401)["code"] == "missing_credentials"


async def test_native_multipart_upload_sends_the_document_with_its_filename(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, worker: Any
) -> None:
    response = await http.post(
        MESSAGES,
        files={"file": ("doc.pdf", PDF, "application/pdf")},
        data={"to": registered, "kind": "document"},
        headers=api_client,
    )
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "document"
    assert response.json()["filename"] == "doc.pdf"
    await drain(worker)
    status = await http.get(f"{MESSAGES}/{response.json()['id']}", headers=api_client)
    assert status.json()["status"] == "sent"
    document = (await sent_log(http, registered))[-1]
    assert document["kind"] == "document"
    assert document["filename"] == "doc.pdf"
    assert document["size"] == len(PDF)
    assert document["sha256"] == hashlib.sha256(PDF).hexdigest()


async def test_native_multipart_upload_leaves_no_temporary_file_open(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        MESSAGES,
        files={"file": ("doc.pdf", PDF, "application/pdf")},
        data={"to": registered, "kind": "document"},
        headers=api_client,
    )
    assert response.status_code == 202, response.text
    gc.collect()  # an unclosed upload spool file warns here (ResourceWarning -> error)


async def test_native_chunked_multipart_upload_over_the_limit_is_refused_before_it_is_read_whole(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    chunks_read = 0
    boundary = "tgwboundary"

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        yield (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="to"\r\n\r\n'
            f"{registered}\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="kind"\r\n\r\n'
            "document\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        for _ in range(64):
            chunks_read += 1
            yield b"x" * MIB
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**api_client, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await http.post(MESSAGES, content=body(), headers=headers)
    assert native_error(response, 413)["code"] == "payload_too_large"
    # The native limit is the base64 of the largest medium (a 16 MiB video): ~22 of the 64 MiB.
    limit = max_body_bytes(LimitsSettings().largest_native_media_bytes)
    assert chunks_read <= limit // MIB + 1 < 64


async def test_native_list_of_sent_messages_paginates_with_next(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, worker: Any
) -> None:
    ids = set()
    for text in ("one", "two", "three"):
        response = await http.post(
            MESSAGES, json={"instance": 1, "to": registered, "text": text}, headers=api_client
        )
        assert response.status_code == 202, response.text
        ids.add(response.json()["id"])
    queued = await http.get(f"{MESSAGES}?status=sent", headers=api_client)
    assert queued.json() == {"data": [], "next": None}
    await drain(worker)
    seen: list[str] = []
    url = f"{MESSAGES}?status=sent&limit=1"
    for _ in range(5):
        page = await http.get(url, headers=api_client)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["data"]) <= 1
        seen += [row["id"] for row in body["data"]]
        assert all(row["status"] == "sent" for row in body["data"])
        if body["next"] is None:
            break
        assert body["next"] == body["data"][-1]["id"]
        url = f"{MESSAGES}?status=sent&limit=1&after={body['next']}"
    assert len(seen) == len(set(seen)) == 3
    assert set(seen) == ids


# --- No 500 for any input -----------------------------------------------------------------------

V3_ENDPOINTS = [
    f"/v3/telegram/{scope}/{kind}/message/1"
    for scope in ("single", "group")
    for kind in ("text", "image", "document", "audio", "voice_note")
]


def odd_bodies() -> list[bytes]:
    structured: list[Any] = [
        None,
        [],
        "x",
        0,
        {},
        {"number": 5, "message": 5},
        {"number": True},
        {"number": None},
        {"number": {"a": 1}, "message": "x"},
        {"number": [NUMBER], "message": "x"},
        {"number": "+", "message": "x"},
        {"number": "３４６１２３４５６７８", "message": "x"},
        {"number": NUMBER, "message": None},
        {"number": NUMBER, "message": ["x"]},
        {"number": NUMBER, "message": ""},
        {"number": NUMBER, "caption": 5, "filename": 5},
        {"number": NUMBER, "image": 5, "document": 5, "audio": 5, "voice_note": 5},
        {"number": NUMBER, "image": "=", "document": "=", "audio": "=", "voice_note": "="},
        {"group_name": 5, "group_admin": True},
        {"group_name": "x" * 300, "group_admin": NUMBER},
        {"group_name": "Team", "group_admin": "abc", "message": "x"},
    ]
    nested = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
    raw = [
        b"",
        b"   ",
        b"{",
        b'{"number": "\xff\xfe", "message": "x"}',
        b"\xff\xfe\x00\x01",
        b'"\\ud800"',
        b'{"number": 1e400}',
        b"NaN",
        nested,
        deep_object,
    ]
    return [orjson.dumps(value) for value in structured] + raw


async def test_no_odd_body_on_any_v3_endpoint_causes_a_server_error(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    failures: list[str] = []
    for path in V3_ENDPOINTS:
        for body in odd_bodies():
            response = await http.post(
                path, content=body, headers={**api_client, "Content-Type": "application/json"}
            )
            ok = 400 <= response.status_code < 500
            try:
                payload = response.json()
                ok = ok and isinstance(payload.get("error_message"), str) and len(payload) == 1
            except ValueError:
                ok = False
            if not ok:
                failures.append(
                    f"{path} {body[:60]!r} -> {response.status_code} {response.text[:200]}"
                )
    assert failures == []


async def test_a_nul_character_in_a_text_never_causes_a_server_error(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        TEXT, json={"number": registered, "message": "a\x00b"}, headers=api_client
    )
    assert response.status_code in (200, 400), response.text


async def test_a_native_reply_to_that_is_not_a_message_id_never_causes_a_server_error(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        MESSAGES,
        json={"instance": 1, "to": registered, "text": "x", "reply_to": "r" * 100},
        headers=api_client,
    )
    assert response.status_code in (202, 400), response.text


async def test_a_nul_character_in_a_message_id_is_a_404_not_a_server_error(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.get(f"{MESSAGES}/abc%00def", headers=api_client)
    assert native_error(response, 404)["code"] == "not_found"


async def test_a_nul_character_in_the_after_cursor_is_a_400_not_a_server_error(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.get(f"{MESSAGES}?after=abc%00def", headers=api_client)
    assert native_error(response, 400)["code"] == "invalid_field"


@pytest.mark.parametrize("filename", [None, ""])
async def test_an_image_without_a_file_name_is_queued_whether_it_is_null_or_empty(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, filename: str | None
) -> None:
    # The file name is optional for images; a null or empty one once reached a length check
    # meant for given names (a 500).
    body = {"number": registered, "image": base64.b64encode(PNG).decode(), "filename": filename}
    response = await http.post(IMAGE, json=body, headers=api_client)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "queued"
