"""What a file really is: a document's name must agree with its bytes, a picture must decode.

Pure functions. The bytes are never trusted for what the name claims: a file called invoice.pdf
that is really HTML is refused, and a name whose type cannot be checked is sent as
application/octet-stream, so the recipient's app does not open it as something it may not be.
"""

from __future__ import annotations

import io
import mimetypes

import filetype
from PIL import Image

from app.errors import ApiError

# A decompression-bomb guard that does not depend on Pillow's global MAX_IMAGE_PIXELS (shared
# with the profile-picture code): a 2 MiB PNG can claim billions of pixels. Telegram itself
# refuses photos whose width + height exceeds 10,000, so 40 megapixels loses nothing real.
MAX_IMAGE_PIXELS = 40_000_000

OCTET_STREAM = "application/octet-stream"

# Extension -> MIME type for every type the `filetype` library can recognise from its bytes
# (its own table, so the two always agree), plus the usual spellings of the same extensions.
_SNIFFABLE: dict[str, str] = {
    str(t.extension).lower(): str(t.mime) for t in filetype.types if t.mime != OCTET_STREAM
}
for _alias, _same in {
    "jpeg": "jpg",
    "jpe": "jpg",
    "tiff": "tif",
    "mid": "midi",
    "aif": "aiff",
    "mpeg": "mpg",
    "oga": "ogg",
    "opus": "ogg",
}.items():
    _SNIFFABLE[_alias] = _SNIFFABLE[_same]

# Sniffed types that are the same file as the declared one. ZIP containers (Office Open XML,
# OpenDocument, EPUB) are recognised by filetype only when their telling member comes first,
# so plain ZIP is accepted for them; the OLE formats (doc, xls, ppt) share one container.
_ZIP = "application/zip"
_OLE = {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}
_MP4 = {"audio/mp4", "audio/m4a", "video/mp4", "video/x-m4v", "video/quicktime", "video/3gpp"}
_EQUIVALENT: dict[str, set[str]] = {
    **{
        mime: {_ZIP}
        for ext, mime in _SNIFFABLE.items()
        if ext in ("docx", "xlsx", "pptx", "odt", "ods", "odp", "epub")
    },
    **{mime: _OLE for mime in _OLE},
    **{mime: _MP4 for mime in _MP4},
    "image/png": {"image/apng"},  # an animated PNG is still a PNG
    "image/apng": {"image/png"},
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Plain-text kinds have no signature to sniff: they are accepted as declared when the bytes
# are UTF-8 text without NUL characters.
_TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "text",
        "csv",
        "tsv",
        "json",
        "jsonl",
        "ndjson",
        "xml",
        "md",
        "markdown",
        "log",
        "yaml",
        "yml",
        "toml",
        "ini",
        "cfg",
        "conf",
        "ics",
        "vcf",
        "html",
        "htm",
        "css",
        "js",
        "srt",
        "vtt",
        "sql",
        "svg",
        "rst",
        "tex",
    ]
)
# A fixed table, not the system's /etc/mime.types: the same name gets the same type everywhere.
_NAMES = mimetypes.MimeTypes(filenames=())


def extension(filename: str) -> str:
    """'Report.PDF' -> 'pdf'; '' when the name has none."""
    stem, dot, ext = filename.rpartition(".")
    return ext.lower() if dot and stem.strip(".") else ""


def describe(sniffed: str | None, data: bytes) -> str:
    """What the bytes are, for an error message."""
    if sniffed is not None:
        return sniffed
    return "text" if is_text(data) else "not a recognised file type"


def is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def document_mime(filename: str, data: bytes, sniffed: str | None) -> str:
    """The MIME type a document is sent with, after checking its name against its bytes."""
    ext = extension(filename)
    declared = _SNIFFABLE.get(ext)
    if declared is not None:
        accepted = {declared, *_EQUIVALENT.get(declared, set())}
        if sniffed in accepted or (declared in _OLE and data.startswith(_OLE_MAGIC)):
            return declared
        raise ApiError(
            "media_type_mismatch",
            f"'document' is named {filename!r}, so it must be {declared} (.{ext}), "
            f"but the bytes are {describe(sniffed, data)}",
        )
    if ext in _TEXT_EXTENSIONS:
        if sniffed is not None or not is_text(data):
            raise ApiError(
                "media_type_mismatch",
                f"'document' is named {filename!r}, a text file (.{ext}), but the bytes are "
                f"{sniffed or 'not UTF-8 text (or hold NUL characters)'}",
            )
        return _NAMES.guess_type(f"x.{ext}")[0] or "text/plain"
    return OCTET_STREAM  # unknown or unsniffable extension: not guessed


def check_image_decodes(data: bytes) -> None:
    """The picture really decodes (a PNG header followed by garbage does not), within bounds."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ApiError(
                    "invalid_image",
                    f"'image' is {width}x{height} pixels; at most {MAX_IMAGE_PIXELS} pixels "
                    "are accepted",
                )
            image.verify()  # checksums and structure; the object is unusable afterwards
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # and a real decode of the pixels: verify() does not read them all
    except ApiError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError and more here
        raise ApiError(
            "invalid_image", f"'image' is not a valid picture: it cannot be decoded ({exc})"
        ) from exc


# Telegram's rule for static stickers: a WebP picture of at most 512x512 pixels (one side 512
# is what its apps make; smaller ones are shown as they are).
STICKER_MAX_SIDE = 512


def check_sticker(data: bytes) -> tuple[int, int]:
    """A sticker is a WebP picture that decodes, at most 512x512 pixels: its (width, height)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if image.format != "WEBP":
                raise ApiError(
                    "media_type_mismatch",
                    f"'sticker' must be a WebP picture, but the bytes are {image.format}",
                )
            if width > STICKER_MAX_SIDE or height > STICKER_MAX_SIDE:
                raise ApiError(
                    "invalid_image",
                    f"'sticker' is {width}x{height} pixels; Telegram's stickers are at most "
                    f"{STICKER_MAX_SIDE}x{STICKER_MAX_SIDE} (resize it, or send it as an image)",
                )
            if getattr(image, "is_animated", False):
                raise ApiError(
                    "invalid_image",
                    "'sticker' is an animated WebP; Telegram's WebP stickers are still pictures "
                    "(send a video for motion)",
                )
            image.load()  # a real decode: a WebP header followed by garbage is refused
    except ApiError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError and more here
        raise ApiError(
            "invalid_image", f"'sticker' is not a valid picture: it cannot be decoded ({exc})"
        ) from exc
    return width, height
