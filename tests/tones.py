"""Short recordings made at test time with PyAV: a 440 Hz tone in MP3, WAV, M4A or OGG/Opus.

Small (two seconds, mono) so that the tests that send them stay fast; cached, as several
tests send the same one.
"""

from __future__ import annotations

import array
import functools
import io
import math

import av

TONE_HZ = 440


def _pcm(seconds: float, rate: int) -> bytes:
    """A tone that swells from silence, so its waveform is not flat."""
    count = int(seconds * rate)
    samples = array.array(
        "h",
        (
            int(20000 * (i / count) * math.sin(2 * math.pi * TONE_HZ * i / rate))
            for i in range(count)
        ),
    )
    return samples.tobytes()


@functools.lru_cache(maxsize=16)
def tone(
    codec: str,
    container: str,
    seconds: float = 2.0,
    rate: int = 44_100,
    tags: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """`seconds` of tone encoded with `codec` in a `container` (ffmpeg's names)."""
    pcm = _pcm(seconds, rate)
    out = io.BytesIO()
    with av.open(out, "w", format=container) as output:
        for key, value in tags:
            output.metadata[key] = value
        stream = output.add_stream(codec, rate=rate)
        stream.codec_context.layout = "mono"
        frame_samples = 1024
        for start in range(0, len(pcm) // 2, frame_samples):
            chunk = pcm[start * 2 : (start + frame_samples) * 2]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
            frame.planes[0].update(chunk)
            frame.rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return out.getvalue()


def mp3(seconds: float = 2.0, **tags: str) -> bytes:
    return tone("libmp3lame", "mp3", seconds, tags=tuple(sorted(tags.items())))


def wav(seconds: float = 2.0) -> bytes:
    return tone("pcm_s16le", "wav", seconds)


def m4a(seconds: float = 2.0, **tags: str) -> bytes:
    return tone("aac", "ipod", seconds, tags=tuple(sorted(tags.items())))


def ogg_opus(seconds: float = 2.0) -> bytes:
    return tone("libopus", "ogg", seconds, rate=48_000)


def probe(data: bytes) -> tuple[str, str, int, float]:
    """Container, codec, channels and duration (seconds) of a recording, as PyAV reads it."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        duration = container.duration / av.time_base if container.duration else 0.0
        return container.format.name, stream.codec_context.name, stream.channels, duration
