"""A voice note that was an MP3 reaches the person as a voice note: OGG/Opus with Telegram's
voice attribute, its duration and its waveform, through real Telethon and the fake server."""

from __future__ import annotations

import base64

from telethon import utils

from tests import tones
from tests.conftest import Clock, drain
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.test_telethon_backend import (
    GATEWAY_PHONE,
    PERSON_PHONE,
    api_headers,
    gateway,
    greet,
    logged_in_beforehand,
    make_worker,
    message_row,
)


async def test_an_mp3_sent_as_a_voice_note_arrives_as_a_voice_note(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, http):
        await greet(services, fake, account, person)
        headers = await api_headers(http)
        worker = make_worker(services, 1)
        await drain(worker)  # the registration reply
        body = {
            "number": PERSON_PHONE,
            "voice_note": base64.b64encode(tones.mp3()).decode(),
            "filename": "memo.mp3",
        }
        response = await http.post(
            "/v3/telegram/single/voice_note/message/1", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
        await drain(worker)
        row = await message_row(services, response.json()["id"])
        assert row.status == "sent", row.error_code
        (voice,) = [r for r in fake.sent_to(person) if r.message_id == row.telegram_message_id]
        assert voice.mime_type == "audio/ogg" and voice.filename == "memo.ogg"
        assert tones.probe(voice.data or b"")[:2] == ("ogg", "opus")
        assert voice.voice and voice.audio.voice and voice.audio.duration == 2
        levels = utils.decode_waveform(voice.audio.waveform)
        assert len(levels) == 100 and max(levels) == 31
        assert sum(levels[:20]) < sum(levels[60:80])  # the tone swells from silence
