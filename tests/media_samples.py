"""Media made at test time: tiny videos (PyAV) and pictures (Pillow), never files on disk."""

from __future__ import annotations

import base64
import io
import os

import av
from PIL import Image


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def mp4(
    frames: int = 10, width: int = 32, height: int = 24, *, noise: bool = False, fmt: str = "mp4"
) -> bytes:
    """A video of `frames` frames at 10 per second (1 s for 10) in an MP4 (or `fmt`)
    container. `noise`: random pixels, which do not compress (a large file)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=fmt) as container:
        # WebM takes VP8 (libvpx, in PyAV's wheels); MP4 and QuickTime MPEG-4 Part 2.
        stream = container.add_stream("libvpx" if fmt == "webm" else "mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 20_000_000
        for index in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                fill = os.urandom(plane.buffer_size) if noise else bytes([index * 20 % 256])
                plane.update(fill if noise else fill * plane.buffer_size)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def large_mp4() -> bytes:
    """A video of more than 512 KiB: its upload shows "sending a video..."."""
    data = mp4(40, 128, 96, noise=True)
    assert len(data) > 512 * 1024
    return data


def picture(width: int, height: int, fmt: str = "WEBP") -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (20, 120, 200, 255)).save(out, format=fmt)
    return out.getvalue()
