"""Voice notes and audio files through the HTTP API: a voice note is stored (and sent) as
OGG/Opus with its duration and waveform before the 200, on the WhatsMate v3 paths and the
native API alike; audio keeps its bytes and gains its tags; undecodable audio is a 400 in
each surface's own shape. The sandbox's sent log shows what Telegram would show."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest

from app.models import MediaBlob, Message
from app.services import Services
from outbound import audio
from tests.conftest import ADMIN, drain, say
from tests.tones import m4a, mp3, ogg_opus, probe, wav

NUMBER = "34612345678"
ADMIN_NUMBER = "34611111111"
MESSAGES = "/api/v1/messages"
NOT_AUDIO = b"OggS" + bytes(3000)  # sniffed as OGG, but no recording


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
async def registered(http: httpx.AsyncClient) -> str:
    await say(http, NUMBER, "Hola")
    return NUMBER


async def stored(services: Services, message_id: str) -> tuple[Message, bytes]:
    """The queued message row and the bytes it will send."""
    async with services.database.read() as session:
        row = await session.get(Message, message_id)
        assert row is not None and row.media_id is not None
        blob = await session.get(MediaBlob, row.media_id)
        assert blob is not None
        return row, blob.data


def audio_details(row: Message) -> dict[str, Any]:
    assert row.details is not None
    details: dict[str, Any] = orjson.loads(row.details)["audio"]
    return details


def assert_voice_ogg(row: Message, data: bytes, filename: str) -> None:
    container, codec, channels, duration_s = probe(data)
    assert (container, codec, channels) == ("ogg", "opus", 1)
    assert duration_s == pytest.approx(2.0, abs=0.1)
    assert (row.filename, row.mime_type, row.media_size) == (filename, "audio/ogg", len(data))
    details = audio_details(row)
    assert details["duration_s"] == 2
    assert len(details["waveform"]) == 100 and any(details["waveform"])


async def sent_log(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await http.get(f"/admin/sandbox/1/sent?number={NUMBER}", headers=ADMIN)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.mark.parametrize(
    ("make", "filename"),
    [(mp3, "memo.mp3"), (wav, "memo.wav"), (m4a, "memo.m4a")],
    ids=["mp3", "wav", "m4a"],
)
async def test_a_v3_voice_note_is_stored_as_ogg_opus_with_duration_and_waveform(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: str,
    services: Services,
    make: Any,
    filename: str,
) -> None:
    response = await http.post(
        "/v3/telegram/single/voice_note/message/1",
        json={"number": registered, "voice_note": b64(make()), "filename": filename},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    row, data = await stored(services, response.json()["id"])
    assert_voice_ogg(row, data, "memo.ogg")


async def test_a_v3_group_voice_note_is_stored_as_ogg_opus(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    group = {"group_name": "Night Shift", "group_admin": ADMIN_NUMBER, "members": [NUMBER]}
    assert (await http.post("/admin/sandbox/1/groups", json=group, headers=ADMIN)).is_success
    response = await http.post(
        "/v3/telegram/group/voice_note/message/1",
        json={
            "group_name": "Night Shift",
            "group_admin": ADMIN_NUMBER,
            "voice_note": b64(mp3()),
            "filename": "shift.mp3",
        },
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    row, data = await stored(services, response.json()["id"])
    assert_voice_ogg(row, data, "shift.ogg")


async def test_a_native_voice_note_is_stored_as_ogg_opus(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, services: Services
) -> None:
    media = {"kind": "voice_note", "base64": b64(wav()), "filename": "memo.wav"}
    response = await http.post(
        MESSAGES, json={"instance": 1, "to": registered, "media": media}, headers=api_client
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    row, data = await stored(services, answer["id"])
    assert_voice_ogg(row, data, "memo.ogg")
    assert (answer["filename"], answer["size"]) == ("memo.ogg", len(data))


async def test_an_ogg_opus_voice_note_is_stored_as_it_came(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, services: Services
) -> None:
    ogg = ogg_opus()
    response = await http.post(
        "/v3/telegram/single/voice_note/message/1",
        json={"number": registered, "voice_note": b64(ogg), "filename": "memo.ogg"},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    row, data = await stored(services, response.json()["id"])
    assert data == ogg
    assert audio_details(row)["duration_s"] == 2


async def test_v3_answers_audio_that_cannot_be_decoded_with_a_whatsmate_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        "/v3/telegram/single/voice_note/message/1",
        json={"number": registered, "voice_note": b64(NOT_AUDIO), "filename": "memo.ogg"},
        headers=api_client,
    )
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["error_message"]
    assert "'voice_note' must be a recording that can be played" in response.json()["error_message"]


async def test_native_answers_audio_that_cannot_be_decoded_with_its_error_shape(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    media = {"kind": "voice_note", "base64": b64(NOT_AUDIO), "filename": "memo.ogg"}
    response = await http.post(
        MESSAGES, json={"instance": 1, "to": registered, "media": media}, headers=api_client
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "media_type_mismatch"
    assert "cannot be read as audio" in error["message"]


async def test_undecodable_audio_queues_nothing(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    media = {"kind": "voice_note", "base64": b64(NOT_AUDIO), "filename": "memo.ogg"}
    await http.post(
        MESSAGES, json={"instance": 1, "to": registered, "media": media}, headers=api_client
    )
    listed = await http.get(MESSAGES, headers=api_client)
    assert listed.json()["data"] == []


async def test_an_audio_file_keeps_its_bytes_and_gains_title_and_performer(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, services: Services
) -> None:
    song = mp3(title="Morning briefing", artist="Ana Ruiz")
    response = await http.post(
        "/v3/telegram/single/audio/message/1",
        json={"number": registered, "audio": b64(song), "filename": "briefing.mp3"},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    row, data = await stored(services, response.json()["id"])
    assert data == song and row.filename == "briefing.mp3"
    assert audio_details(row) == {
        "duration_s": 2,
        "waveform": None,
        "title": "Morning briefing",
        "performer": "Ana Ruiz",
    }


async def test_the_sandbox_shows_a_voice_note_as_a_voice_bubble(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: str,
    worker: Any,
) -> None:
    response = await http.post(
        "/v3/telegram/single/voice_note/message/1",
        json={"number": registered, "voice_note": b64(mp3()), "filename": "memo.mp3"},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    await drain(worker)
    sent = [m for m in await sent_log(http) if m["kind"] == "voice_note"]
    assert len(sent) == 1
    assert (sent[0]["filename"], sent[0]["mime_type"]) == ("memo.ogg", "audio/ogg")
    assert (sent[0]["duration_s"], sent[0]["voice"]) == (2, True)


async def test_the_sandbox_shows_an_audio_file_as_a_player_not_a_bubble(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: str,
    worker: Any,
) -> None:
    response = await http.post(
        "/v3/telegram/single/audio/message/1",
        json={"number": registered, "audio": b64(m4a()), "filename": "song.m4a"},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    await drain(worker)
    sent = [m for m in await sent_log(http) if m["kind"] == "audio"]
    assert len(sent) == 1
    assert (sent[0]["duration_s"], sent[0]["voice"]) == (2, False)


async def test_a_voice_note_over_the_length_limit_is_a_413_that_says_so(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    registered: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audio, "MAX_VOICE_DURATION_S", 1)
    response = await http.post(
        "/v3/telegram/single/voice_note/message/1",
        json={"number": registered, "voice_note": b64(mp3()), "filename": "memo.mp3"},
        headers=api_client,
    )
    assert response.status_code == 413, response.text
    assert response.json() == {
        "error_message": "'voice_note' lasts more than 1 second; the limit is 1 second"
    }
