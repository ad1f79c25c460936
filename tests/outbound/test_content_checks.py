"""What a send may contain: text lengths as people count them and as Telegram counts them, file
names cleaned rather than refused, documents whose name must agree with their bytes, pictures
that must decode, ASCII instance numbers and a byte-order mark in front of the JSON.

The pure checks are called directly; the HTTP answers go through the in-process app.
"""

from __future__ import annotations

import base64
import io
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from app.errors import ApiError
from app.routes.common import instance_number
from app.routes.messages_schemas import SendMessage
from app.routes.send_bodies import parse_send
from app.settings import LimitsSettings, SettingsError, load_settings
from outbound.content import MAX_IMAGE_PIXELS
from outbound.validation import check_caption, check_filename, check_media, check_text
from tests.conftest import say

NUMBER = "34612345678"
TEXT = "/v3/telegram/single/text/message/1"
IMAGE = "/v3/telegram/single/image/message/1"
DOCUMENT = "/v3/telegram/single/document/message/1"
EMOJI = "\U0001f600"  # one code point, two UTF-16 units
COMPOSED_E = "e\u0301"  # e + combining acute: one character after NFC
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!doctype html><html><body>Pay here</body></html>"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(width: int = 2, height: int = 2) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header that claims a size its few bytes of pixels cannot fill."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def refused(call: Any, code: str) -> str:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value.message


# --- text and caption lengths -------------------------------------------------------------------


def test_800_emoji_are_800_characters_and_accepted() -> None:
    assert check_text(EMOJI * 800, LimitsSettings()) == EMOJI * 800


def test_801_emoji_are_refused_as_801_characters() -> None:
    message = refused(lambda: check_text(EMOJI * 801, LimitsSettings()), "text_too_long")
    assert "801 characters" in message and "800" in message


def test_a_combining_sequence_that_nfc_composes_counts_once() -> None:
    assert check_text(COMPOSED_E * 800, LimitsSettings()) == COMPOSED_E * 800
    message = refused(lambda: check_text(COMPOSED_E * 801, LimitsSettings()), "text_too_long")
    assert "801 characters" in message


def test_a_text_within_text_chars_but_over_telegrams_4096_units_is_refused() -> None:
    limits = LimitsSettings(text_chars=4096)
    assert check_text("a" * 4096, limits)
    assert check_text(EMOJI * 2048, limits)  # exactly 4096 units
    message = refused(lambda: check_text(EMOJI * 2049, limits), "text_too_long")
    assert "4098 UTF-16 code units" in message and "Telegram's limit is 4096" in message


def test_a_caption_of_emoji_over_telegrams_1024_units_is_refused() -> None:
    limits = LimitsSettings()  # caption_chars 1024
    assert check_caption(EMOJI * 512, limits) == EMOJI * 512
    message = refused(lambda: check_caption(EMOJI * 513, limits), "caption_too_long")
    assert "Telegram's limit is 1024" in message


def test_a_caption_of_1025_emoji_is_refused_as_characters_first() -> None:
    message = refused(lambda: check_caption(EMOJI * 1025, LimitsSettings()), "caption_too_long")
    assert "1025 characters" in message and "1024" in message


@pytest.mark.parametrize(
    ("key", "value", "what"),
    [("text_chars", 4097, "message text"), ("caption_chars", 1025, "caption")],
)
def test_limits_over_telegrams_are_refused_at_startup(
    tmp_path: Path, key: str, value: int, what: str
) -> None:
    config = tmp_path / "tgw.toml"
    config.write_text(f"[limits]\n{key} = {value}\n")
    with pytest.raises(SettingsError, match=rf"limits\.{key}.*Telegram's limit for a {what}"):
        load_settings(str(config), environ={})


def test_limits_at_telegrams_are_accepted() -> None:
    limits = LimitsSettings(text_chars=4096, caption_chars=1024)
    assert (limits.text_chars, limits.caption_chars) == (4096, 1024)


# --- file names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("\u2066report\u2069\u200e.pdf\u200f", "report.pdf"),
        ("../../etc/passwd", "etcpasswd"),
        ("C:\\Users\\me\\q3.xlsx", "CUsersmeq3.xlsx"),
        ('a<b>c:d"e|f?g*h.pdf', "abcdefgh.pdf"),
        ("tab\there\n.txt", "tabhere.txt"),
        ("<>.pdf", "file.pdf"),
        ("  Résumé final.pdf ", "Résumé final.pdf"),
    ],
)
def test_unsafe_characters_are_removed_from_a_filename_keeping_the_extension(
    given: str, kept: str
) -> None:
    assert check_filename(given, required=True) == kept


@pytest.mark.parametrize("given", ["..", "/", "../..", "<>:|", "\u202e\u202c", " . "])
def test_a_filename_with_nothing_usable_left_is_refused(given: str) -> None:
    message = refused(lambda: check_filename(given, required=True), "invalid_filename")
    assert "nothing usable is left" in message


# --- documents: the name and the bytes agree ----------------------------------------------------


def test_an_html_file_named_pdf_is_refused_naming_both() -> None:
    message = refused(lambda: check_media("document", HTML, "invoice.pdf"), "media_type_mismatch")
    assert "application/pdf" in message and "invoice.pdf" in message and "text" in message


def test_a_png_named_pdf_is_refused_naming_both() -> None:
    message = refused(lambda: check_media("document", png(), "scan.pdf"), "media_type_mismatch")
    assert "application/pdf" in message and "image/png" in message


def test_a_real_pdf_is_sent_as_a_pdf() -> None:
    assert check_media("document", PDF, "invoice.PDF").mime_type == "application/pdf"


def test_a_docx_recognised_only_as_zip_is_accepted_as_docx() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    media = check_media("document", out.getvalue(), "letter.docx")
    assert media.mime_type.endswith("wordprocessingml.document")


@pytest.mark.parametrize("name", ["data.xyz", "firmware.bin", "README"])
def test_an_unknown_or_unsniffable_extension_is_sent_as_octet_stream(name: str) -> None:
    assert check_media("document", PDF, name).mime_type == "application/octet-stream"


@pytest.mark.parametrize(("name", "mime"), [("notes.txt", "text/plain"), ("rows.csv", "text/csv")])
def test_utf8_text_is_accepted_as_the_text_kind_it_is_named(name: str, mime: str) -> None:
    assert check_media("document", "naïve,café\n".encode(), name).mime_type == mime


@pytest.mark.parametrize(
    "data", [b"abc\x00def", b"\xff\xfe\x00binary", PDF.replace(b"%PDF", b"%PDF\xff")]
)
def test_a_text_name_on_bytes_that_are_not_utf8_text_is_refused(data: bytes) -> None:
    message = refused(lambda: check_media("document", data, "notes.txt"), "media_type_mismatch")
    assert "notes.txt" in message


def test_a_pdf_named_txt_is_refused() -> None:
    pdf = b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n" + b"\x00" * 16
    message = refused(lambda: check_media("document", pdf, "notes.txt"), "media_type_mismatch")
    assert "application/pdf" in message


# --- pictures decode ----------------------------------------------------------------------------


def test_a_real_png_is_accepted() -> None:
    assert check_media("image", png(), None).mime_type == "image/png"


def test_a_png_header_followed_by_garbage_is_refused() -> None:
    data = png()[:33] + b"\x13garbage" * 40
    message = refused(lambda: check_media("image", data, None), "invalid_image")
    assert "cannot be decoded" in message


def test_a_png_truncated_mid_pixels_is_refused() -> None:
    data = png(64, 64)
    refused(lambda: check_media("image", data[: len(data) // 2], None), "invalid_image")


def test_a_picture_over_the_pixel_bound_is_refused_before_it_is_decoded() -> None:
    message = refused(lambda: check_media("image", png_claiming(8000, 8000), None), "invalid_image")
    assert "8000x8000" in message and str(MAX_IMAGE_PIXELS) in message


def test_a_decompression_bomb_is_refused() -> None:
    refused(lambda: check_media("image", png_claiming(100_000, 100_000), None), "invalid_image")


# --- instance numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["١", "١٢", "²", "0", "-1", "+1", " 1", str(2**31), str(2**63), "9" * 5000]
)
def test_an_instance_number_that_is_not_plain_ascii_digits_in_range_is_unknown(raw: str) -> None:
    message = refused(lambda: instance_number(raw), "unknown_instance")
    assert "Invalid gateway instance number" in message


def test_the_native_api_does_not_read_arabic_indic_digits_as_an_instance() -> None:
    body = {"instance": "١", "to": NUMBER, "text": "x"}
    message = refused(
        lambda: parse_send(SendMessage, body, LimitsSettings()).request(), "invalid_field"
    )
    assert "'instance'" in message
    assert (
        parse_send(SendMessage, {**body, "instance": "1"}, LimitsSettings()).request().instance == 1
    )


def test_the_largest_instance_number_is_parsed() -> None:
    # Instance numbers are INTEGER columns: 32 bits on PostgreSQL.
    assert instance_number(str(2**31 - 1)) == 2**31 - 1
    assert instance_number("007") == 7


# --- through the HTTP API -----------------------------------------------------------------------


@pytest.fixture
async def registered(http: httpx.AsyncClient) -> str:
    await say(http, NUMBER, "Hola")
    return NUMBER


def wm_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error_message"]
    return message


async def test_v3_refuses_an_html_invoice_named_pdf_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        DOCUMENT,
        json={"number": registered, "document": b64(HTML), "filename": "invoice.pdf"},
        headers=api_client,
    )
    assert "application/pdf" in wm_error(response, 400)


async def test_v3_refuses_a_png_header_followed_by_garbage_with_400(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    response = await http.post(
        IMAGE,
        json={"number": registered, "image": b64(png()[:33] + b"garbage" * 50)},
        headers=api_client,
    )
    assert "not a valid picture" in wm_error(response, 400)


@pytest.mark.parametrize(
    "instance", ["١", str(2**63), str(2**64), "9" * 5000], ids=["arabic", "2^63", "2^64", "huge"]
)
async def test_v3_answers_an_odd_instance_number_as_unknown(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str, instance: str
) -> None:
    response = await http.post(
        f"/v3/telegram/single/text/message/{instance}",
        json={"number": registered, "message": "x"},
        headers=api_client,
    )
    assert "Invalid gateway instance number" in wm_error(response, 404)


async def test_v3_accepts_json_that_starts_with_a_byte_order_mark(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    body = b"\xef\xbb\xbf" + b'{"number": "34612345678", "message": "Hello"}'
    response = await http.post(
        TEXT, content=body, headers={**api_client, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


async def test_v1_and_native_accept_json_that_starts_with_a_byte_order_mark(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    headers = {**api_client, "Content-Type": "application/json; charset=utf-8"}
    v1 = await http.post(
        "/v1/telegram/single/message/1",
        content=b'\xef\xbb\xbf{"number": "34612345678", "message": "Hello"}',
        headers=headers,
    )
    assert v1.status_code == 200, v1.text
    native = await http.post(
        "/api/v1/messages",
        content=b'\xef\xbb\xbf{"to": "34612345678", "text": "Hello"}',
        headers=headers,
    )
    assert native.status_code == 202, native.text


async def test_a_byte_order_mark_alone_is_still_an_empty_body(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.post(TEXT, content=b"\xef\xbb\xbf", headers=api_client)
    assert "No JSON data received" in wm_error(response, 400)


async def test_v3_accepts_800_emoji_and_refuses_801(
    http: httpx.AsyncClient, api_client: dict[str, str], registered: str
) -> None:
    ok = await http.post(
        TEXT, json={"number": registered, "message": EMOJI * 800}, headers=api_client
    )
    assert ok.status_code == 200, ok.text
    over = await http.post(
        TEXT, json={"number": registered, "message": EMOJI * 801}, headers=api_client
    )
    assert "801 characters" in wm_error(over, 400)
