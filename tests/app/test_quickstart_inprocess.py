from __future__ import annotations

import base64
import hashlib

import httpx

from tests.conftest import ADMIN, drain, say


async def test_greeting_registers_and_text_is_sent(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: object
) -> None:
    await say(http, "34612345678", "¡Hola!")
    response = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": "+34 612-345-678", "message": "Hello"},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    message_id = response.json()["id"]
    await drain(worker)
    status = await http.get(f"/api/v1/messages/{message_id}", headers=api_client)
    assert status.json()["status"] == "sent"
    sent = (await http.get("/admin/sandbox/1/sent?number=34612345678", headers=ADMIN)).json()
    texts = [row["text"] for row in sent["data"]]
    assert texts[0].startswith("Te has registrado")
    assert texts[-1] == "Hello"


async def test_image_arrives_with_the_same_sha256(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: object
) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    await say(http, "34612345678", "Hi")
    response = await http.post(
        "/v3/telegram/single/image/message/1",
        json={"number": "34612345678", "image": base64.b64encode(png).decode(), "caption": "c"},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    await drain(worker)
    sent = (await http.get("/admin/sandbox/1/sent?number=34612345678", headers=ADMIN)).json()
    image = sent["data"][-1]
    assert image["kind"] == "image"
    assert image["sha256"] == hashlib.sha256(png).hexdigest()
    assert image["caption"] == "c"
