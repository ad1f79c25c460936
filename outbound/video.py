"""What a video is: its duration and frame size, read with PyAV (FFmpeg) from its bytes.

Telegram shows a player for a document with DocumentAttributeVideo, and uses the duration and
size it gives for the preview; a video whose container cannot be read is still sent, with
zeros (Telegram then works them out itself, or shows the file without them).
"""

from __future__ import annotations

import io
import logging

import av

from app.telegram.port import VideoInfo

log = logging.getLogger(__name__)

UNKNOWN_VIDEO = VideoInfo(duration_s=0.0, width=0, height=0)


def probe_video(data: bytes) -> VideoInfo:
    """Duration (seconds) and size of the first video stream; zeros when they cannot be read."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = container.streams.video
            if not streams:
                return UNKNOWN_VIDEO
            stream = streams[0]
            duration_s = 0.0
            if container.duration is not None and container.duration > 0:
                duration_s = container.duration / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                duration_s = float(stream.duration * stream.time_base)
            width = stream.codec_context.width or 0
            height = stream.codec_context.height or 0
    except Exception as exc:  # FFmpeg's errors (av.FFmpegError and others) for unreadable bytes
        log.info("video attributes could not be read: %s", exc)
        return UNKNOWN_VIDEO
    return VideoInfo(duration_s=round(duration_s, 3), width=int(width), height=int(height))
