"""Voice notes made OGG/Opus with their duration and waveform, and audio files read for their
duration and tags (outbound/audio.py), called directly on recordings made with PyAV."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable

import pytest

from app.errors import ApiError
from outbound import audio
from outbound.audio import audio_file, prepare_audio, prepared, voice_note, waveform, with_audio
from outbound.send_request import SendRequest
from outbound.validation import check_media
from tests.tones import m4a, mp3, ogg_opus, probe, wav

RECORDINGS: dict[str, Callable[[], bytes]] = {"mp3": mp3, "wav": wav, "m4a": m4a}


def refused(data: bytes, code: str) -> str:
    with pytest.raises(ApiError) as caught:
        voice_note(data)
    assert caught.value.code == code, caught.value.message
    return caught.value.message


@pytest.mark.parametrize("make", RECORDINGS.values(), ids=RECORDINGS.keys())
def test_a_voice_note_that_is_not_ogg_opus_becomes_mono_ogg_opus(make: Callable[[], bytes]) -> None:
    ogg, _ = voice_note(make())
    assert ogg is not None
    container, codec, channels, duration_s = probe(ogg)
    assert (container, codec, channels) == ("ogg", "opus", 1)
    assert duration_s == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("make", RECORDINGS.values(), ids=RECORDINGS.keys())
def test_a_voice_note_lasts_as_long_as_its_recording(make: Callable[[], bytes]) -> None:
    assert voice_note(make())[1].duration_s == 2


@pytest.mark.parametrize("make", [*RECORDINGS.values(), ogg_opus], ids=[*RECORDINGS, "ogg"])
def test_the_waveform_is_100_levels_of_5_bits_that_follow_the_loudness(
    make: Callable[[], bytes],
) -> None:
    levels = voice_note(make())[1].waveform
    assert levels is not None and len(levels) == 100
    assert all(0 <= level <= 31 for level in levels)
    assert max(levels) == 31
    assert sum(levels[:20]) < sum(levels[60:80])  # the tone swells from silence


def test_an_ogg_opus_voice_note_is_kept_as_it_is_and_still_measured() -> None:
    ogg, details = voice_note(ogg_opus())
    assert ogg is None
    assert details.duration_s == 2 and details.waveform is not None


def test_a_voice_note_is_stored_as_ogg_under_its_own_name() -> None:
    media = prepared(check_media("voice_note", mp3(), "memo from Ana.mp3"))
    assert (media.filename, media.mime_type) == ("memo from Ana.ogg", "audio/ogg")
    assert probe(media.data)[:2] == ("ogg", "opus")
    assert media.sha256 == hashlib.sha256(media.data).hexdigest()
    assert media.audio is not None and media.audio["duration_s"] == 2
    assert len(media.audio["waveform"]) == 100


def test_bytes_that_only_look_like_audio_are_refused_as_not_a_recording() -> None:
    message = refused(b"OggS" + bytes(3000), "media_type_mismatch")
    assert "'voice_note' must be a recording that can be played" in message


def test_an_mp3_header_without_sound_is_refused() -> None:
    assert "voice_note" in refused(
        b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(3000), "media_type_mismatch"
    )


def test_a_file_without_an_audio_stream_is_refused() -> None:
    from tests.outbound.test_content_checks import png

    assert "no audio stream" in refused(png(), "media_type_mismatch")


def test_a_recording_longer_than_the_limit_is_refused_by_its_stated_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audio, "MAX_VOICE_DURATION_S", 3)
    assert voice_note(mp3(seconds=2))[1].duration_s == 2

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded")

    monkeypatch.setattr(audio, "_mono_48k", no_decoding)
    message = refused(mp3(seconds=4), "payload_too_large")
    assert "'voice_note' lasts more than 3 seconds; the limit is 3 seconds" in message


def test_a_recording_that_states_no_duration_is_stopped_once_decoded_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audio, "MAX_VOICE_DURATION_S", 1)
    monkeypatch.setattr(audio, "_declared_duration_s", lambda container, stream: None)
    refused(wav(), "payload_too_large")


def test_a_decode_that_runs_past_its_deadline_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio, "DECODE_DEADLINE_S", -1.0)
    assert "decoding it took over" in refused(wav(), "media_type_mismatch")


def test_silence_has_a_flat_waveform() -> None:
    assert waveform([0] * 500) == (0,) * 100


def test_levels_are_scaled_to_the_loudest_block() -> None:
    levels = waveform([100] * 50 + [400] * 50)
    assert levels == (8,) * 50 + (31,) * 50


def test_a_recording_shorter_than_100_blocks_still_has_100_levels() -> None:
    assert waveform([1000, 0, 500]) == (31,) * 34 + (0,) * 33 + (16,) * 33


@pytest.mark.parametrize("make", [mp3, m4a], ids=["mp3", "m4a"])
def test_an_audio_file_gives_its_duration_title_and_performer(
    make: Callable[..., bytes],
) -> None:
    details = audio_file(make(title="Morning briefing", artist="Ana Ruiz"))
    assert details is not None
    assert (details.duration_s, details.title, details.performer) == (
        2,
        "Morning briefing",
        "Ana Ruiz",
    )
    assert details.waveform is None


def test_an_audio_file_is_sent_as_it_is() -> None:
    song = mp3(title="Song")
    media = prepared(check_media("audio", song, "song.mp3"))
    assert (media.data, media.filename, media.mime_type) == (song, "song.mp3", "audio/mpeg")
    assert media.audio is not None and media.audio["title"] == "Song"


def test_an_audio_file_pyav_cannot_read_goes_without_details() -> None:
    fake = b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(3000)
    assert audio_file(fake) is None
    assert prepared(check_media("audio", fake, "a.mp3")).audio is None


def test_a_voice_note_shared_by_a_batch_is_transcoded_once() -> None:
    media = check_media("voice_note", wav(), "memo.wav")
    requests = [SendRequest(1, "voice_note", to_number=n, media=media) for n in ("1", "2")]
    first, second = with_audio(requests)
    assert first.media is second.media and first.media is not None
    assert first.media.mime_type == "audio/ogg"


def test_sends_without_audio_are_not_handed_to_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(requests: object) -> None:
        raise AssertionError("with_audio was called")

    monkeypatch.setattr(audio, "with_audio", fail)
    requests = [SendRequest(1, "text", to_number="1", text="hi")]
    assert asyncio.run(prepare_audio(requests)) is requests


def test_transcoding_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = audio.with_audio

    def record(requests: list[SendRequest]) -> list[SendRequest]:
        threads.append(threading.get_ident())
        return real(requests)

    monkeypatch.setattr(audio, "with_audio", record)
    media = check_media("voice_note", mp3(), "memo.mp3")
    requests = [SendRequest(1, "voice_note", to_number="1", media=media)]

    async def run() -> tuple[list[SendRequest], int]:
        return list(await prepare_audio(requests)), threading.get_ident()

    prepared_requests, loop_thread = asyncio.run(run())
    assert threads and threads[0] != loop_thread
    assert prepared_requests[0].media is not None
    assert prepared_requests[0].media.mime_type == "audio/ogg"
