"""Voice notes and audio files: what Telegram needs to show them, read (and made) with PyAV.

Telegram shows a voice bubble only for OGG/Opus with a voice attribute (duration and a
waveform); any other recording arrives as a plain file. So a voice note that is not OGG/Opus
is transcoded here, when it is accepted (the stored message is the OGG): mono, 48 kHz,
about 32 kbit/s with libopus (PyAV's wheels carry ffmpeg). Transcoding a one-minute MP3 takes
about 0.7 s (0.8 s of CPU) on the 2-core machine it was built on, so it runs off the event loop
(`prepare_audio`).

The work is bounded: a recording longer than `MAX_VOICE_DURATION_S` is refused (by what its
container says, and again while decoding, in case it says nothing or lies), and so is a decode
still running after `DECODE_DEADLINE_S`. Only the first audio stream is read.

What is learnt is stored in the message's details as {"audio": {"duration_s": whole seconds,
"waveform": 100 levels 0..31 (a JSON list; voice notes only), "title", "performer"}}; the
Telethon backend packs the levels into Telegram's 5-bit form.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import io
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import av
import av.error
import orjson
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer

from app.errors import ApiError
from outbound.send_request import SendRequest
from outbound.validation import CheckedMedia

MAX_VOICE_DURATION_S = 20 * 60
DECODE_DEADLINE_S = 120.0  # 20 minutes take about 15 s of CPU: only a runaway decode is cut
VOICE_RATE = 48_000
VOICE_BIT_RATE = 32_000
WAVEFORM_SAMPLES = 100
WAVEFORM_MAX = 31  # 5 bits a sample
AUDIO_KINDS = ("voice_note", "audio")
_BLOCK = VOICE_RATE // 100  # the waveform's peaks are taken over 10 ms blocks


@dataclass(frozen=True)
class AudioDetails:
    """What Telegram shows of a recording (DocumentAttributeAudio), as stored in details."""

    duration_s: int
    waveform: tuple[int, ...] | None = None
    title: str | None = None
    performer: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "waveform": list(self.waveform) if self.waveform is not None else None,
            "title": self.title,
            "performer": self.performer,
        }


def _undecodable(kind: str, why: str) -> ApiError:
    return ApiError(
        "media_type_mismatch", f"'{kind}' must be a recording that can be played, but {why}"
    )


def _too_long(kind: str) -> ApiError:
    seconds = MAX_VOICE_DURATION_S
    amount, unit = (seconds // 60, "minute") if seconds % 60 == 0 else (seconds, "second")
    limit = f"{amount} {unit}{'' if amount == 1 else 's'}"
    return ApiError("payload_too_large", f"'{kind}' lasts more than {limit}; the limit is {limit}")


def _open(data: bytes, kind: str) -> InputContainer:
    try:
        return av.open(io.BytesIO(data), "r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise _undecodable(kind, f"its bytes cannot be read as audio ({exc})") from exc


def _audio_stream(container: InputContainer, kind: str) -> AudioStream:
    if not container.streams.audio:
        raise _undecodable(kind, "the file has no audio stream")
    return container.streams.audio[0]


def _declared_duration_s(container: InputContainer, stream: AudioStream) -> float | None:
    """The duration the container states, if any (it may be an estimate)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _mono_48k(container: InputContainer, stream: AudioStream, kind: str) -> Iterator[AudioFrame]:
    """The stream decoded to 16-bit mono 48 kHz in 10 ms frames, within the bounds."""
    resampler = AudioResampler(format="s16", layout="mono", rate=VOICE_RATE, frame_size=_BLOCK)
    deadline = time.monotonic() + DECODE_DEADLINE_S
    limit = MAX_VOICE_DURATION_S * VOICE_RATE
    samples = 0
    try:
        for decoded in container.decode(stream):
            if time.monotonic() > deadline:
                raise _undecodable(kind, f"decoding it took over {DECODE_DEADLINE_S:.0f} s")
            for frame in resampler.resample(decoded):
                samples += frame.samples
                if samples > limit:
                    raise _too_long(kind)
                yield frame
        for frame in resampler.resample(None):
            yield frame
    except (av.error.FFmpegError, ValueError) as exc:
        raise _undecodable(kind, f"its audio cannot be decoded ({exc})") from exc


def _peak(frame: AudioFrame) -> int:
    """The largest absolute 16-bit sample of a mono s16 frame."""
    pcm = array.array("h")
    pcm.frombytes(bytes(frame.planes[0])[: frame.samples * 2])  # planes are padded
    if sys.byteorder == "big":
        pcm.byteswap()
    return max(max(pcm, default=0), -min(pcm, default=0))


def waveform(peaks: Sequence[int]) -> tuple[int, ...]:
    """Telegram's 100 voice levels (0..31) from the peaks of consecutive blocks: each level is
    the loudest block of its hundredth of the recording, scaled to the loudest of all."""
    if not peaks:
        return (0,) * WAVEFORM_SAMPLES
    count = len(peaks)
    loudest = max(peaks)
    levels = []
    for index in range(WAVEFORM_SAMPLES):
        start = index * count // WAVEFORM_SAMPLES
        end = max(start + 1, (index + 1) * count // WAVEFORM_SAMPLES)
        level = max(peaks[start:end])
        levels.append(round(level * WAVEFORM_MAX / loudest) if loudest else 0)
    return tuple(levels)


def _is_ogg_opus(container: InputContainer, stream: AudioStream) -> bool:
    return container.format.name == "ogg" and stream.codec_context.name == "opus"


class _OggOpus:
    """The OGG/Opus encoder a voice note is written with, in memory."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._output = av.open(self._buffer, "w", format="ogg")
        self._opus = self._output.add_stream("libopus", rate=VOICE_RATE)
        self._opus.codec_context.layout = "mono"
        self._opus.codec_context.bit_rate = VOICE_BIT_RATE  # VBR: speech averages near it

    def add(self, frame: AudioFrame | None) -> None:
        """Encode a frame (None flushes the encoder)."""
        if frame is not None:
            frame.pts = None  # the encoder numbers the samples itself
        for packet in self._opus.encode(frame):
            self._output.mux(packet)

    def finish(self) -> bytes:
        self.add(None)
        self._output.close()
        return self._buffer.getvalue()

    def abandon(self) -> None:
        with contextlib.suppress(av.error.FFmpegError, ValueError):
            self._output.close()


def voice_note(data: bytes, kind: str = "voice_note") -> tuple[bytes | None, AudioDetails]:
    """An OGG/Opus version of a recording (None when it already is one) and its details.

    ApiError 400 (media_type_mismatch) when it cannot be decoded, 413 when too long.
    """
    with _open(data, kind) as container:
        stream = _audio_stream(container, kind)
        declared = _declared_duration_s(container, stream)
        if declared is not None and declared > MAX_VOICE_DURATION_S:
            raise _too_long(kind)
        encoder = None if _is_ogg_opus(container, stream) else _OggOpus()
        peaks: list[int] = []
        samples = 0
        try:
            for frame in _mono_48k(container, stream, kind):
                peaks.append(_peak(frame))
                samples += frame.samples
                if encoder is not None:
                    encoder.add(frame)
            if samples == 0:
                raise _undecodable(kind, "it holds no sound (no audio frame could be decoded)")
            ogg = encoder.finish() if encoder is not None else None
        except av.error.FFmpegError as exc:  # from the encoder: decoding errors are ApiErrors
            if encoder is not None:
                encoder.abandon()
            raise _undecodable(kind, f"it cannot be encoded as OGG/Opus ({exc})") from exc
        except BaseException:
            if encoder is not None:
                encoder.abandon()
            raise
    return ogg, AudioDetails(_whole_seconds(samples / VOICE_RATE), waveform(peaks))


def _whole_seconds(duration_s: float) -> int:
    """Telegram's durations are whole seconds; a sound shorter than one still lasts 1."""
    return max(1, round(duration_s)) if duration_s > 0 else 0


def _tag(container: InputContainer, stream: AudioStream, *names: str) -> str | None:
    """A tag of the file (ID3, MP4 or Vorbis comments: ffmpeg names them alike), trimmed."""
    for metadata in (container.metadata, stream.metadata):
        for key, value in metadata.items():
            if key.lower() in names and value.strip():
                return value.strip()[:256]
    return None


def audio_file(data: bytes) -> AudioDetails | None:
    """The duration, title and performer of an audio file (it is sent as it is), or None when
    PyAV cannot read it: an audio file is a file, and its bytes were sniffed already."""
    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            duration_s = _declared_duration_s(container, stream) or 0.0
            return AudioDetails(
                _whole_seconds(duration_s),
                title=_tag(container, stream, "title"),
                performer=_tag(container, stream, "artist", "performer", "album_artist"),
            )
    except (av.error.FFmpegError, ValueError):
        return None


def _ogg_name(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return f"{stem or 'voice'}.ogg"


def prepared(media: CheckedMedia) -> CheckedMedia:
    """The medium as it is stored: a voice note in OGG/Opus, each with its audio details."""
    if media.kind == "voice_note":
        ogg, details = voice_note(media.data)
        data = media.data if ogg is None else ogg
        return replace(
            media,
            data=data,
            mime_type="audio/ogg",
            filename=_ogg_name(media.filename),
            sha256=hashlib.sha256(data).hexdigest(),
            audio=details.as_json(),
        )
    if media.kind == "audio":
        found = audio_file(media.data)
        if found is not None:
            return replace(media, audio=found.as_json())
    return media


def with_audio(requests: Sequence[SendRequest]) -> list[SendRequest]:
    """The requests with their audio media prepared; a medium shared by several (a batch to
    many numbers) is prepared once. CPU work: call it off the event loop."""
    done: dict[int, CheckedMedia] = {}
    result = []
    for request in requests:
        media = request.media
        if media is None or media.kind not in AUDIO_KINDS:
            result.append(request)
            continue
        if id(media) not in done:
            done[id(media)] = prepared(media)
        result.append(replace(request, media=done[id(media)]))
    return result


async def prepare_audio(requests: Sequence[SendRequest]) -> Sequence[SendRequest]:
    """`with_audio` on a worker thread, when a request carries audio (most do not)."""
    if not any(r.media is not None and r.media.kind in AUDIO_KINDS for r in requests):
        return requests
    return await asyncio.to_thread(with_audio, requests)


def with_audio_details(row: dict[str, Any], media: CheckedMedia | None) -> dict[str, Any]:
    """The message row with the medium's audio details added to its `details` JSON (which
    other kinds fill too); every row gets the column, as a Core insert needs the same keys."""
    existing = row.get("details")
    details: dict[str, Any] = orjson.loads(existing) if existing else {}
    if media is not None and media.audio is not None:
        details["audio"] = dict(media.audio)
    row["details"] = orjson.dumps(details).decode() if details else None
    return row
