"""The native kinds (video, sticker, location, contact) and options (reply_to, silent,
link_preview) of POST /api/v1/messages, through the in-process API to the sandbox: what the
simulated person got, what the message resource shows, and the clear 400s."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from app.services import Services
from app.telegram.port import UserPeer
from tests.conftest import drain, say
from tests.media_samples import b64, large_mp4, mp4, picture

NUMBER = "34612345678"
MESSAGES = "/api/v1/messages"
MARK_READ = {"instances": [{"number": 1, "backend": "sandbox", "mark_read_on_reply": True}]}


async def send(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await http.post(MESSAGES, json={"to": NUMBER, **body}, headers=headers)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def refused(
    http: httpx.AsyncClient, headers: dict[str, str], status: int = 400, **body: Any
) -> dict[str, str]:
    response = await http.post(MESSAGES, json={"to": NUMBER, **body}, headers=headers)
    assert response.status_code == status, response.text
    error: dict[str, str] = response.json()["error"]
    return error


async def delivered(services: Services, worker: Any) -> dict[str, Any]:
    """The last thing the sandbox person got, once the queue is drained."""
    await drain(worker)
    sent = await services.telegram.sandboxes[1].sent_log(NUMBER)
    return sent[-1]


@pytest.fixture
async def person(http: httpx.AsyncClient, worker: Any) -> dict[str, Any]:
    """Registered, the registration reply sent."""
    said = await say(http, NUMBER, "Hi")
    await drain(worker)
    return said


async def test_a_video_arrives_with_the_duration_and_size_read_from_it(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    video = mp4(frames=20, width=48, height=32)
    message = await send(
        http, api_client, media={"kind": "video", "base64": b64(video), "caption": "how to"}
    )
    assert message["kind"] == "video"
    got = await delivered(services, worker)
    assert got["kind"] == "video" and got["caption"] == "how to"
    assert (got["mime_type"], got["filename"], got["size"]) == (
        "video/mp4",
        "video.mp4",
        len(video),
    )
    assert got["video"] == {"duration_s": 2.0, "width": 48, "height": 32}


async def test_a_quicktime_video_keeps_a_matching_file_name(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    video = mp4(fmt="mov")
    await send(
        http, api_client, media={"kind": "video", "base64": b64(video), "filename": "clip.mp4"}
    )
    got = await delivered(services, worker)
    assert (got["mime_type"], got["filename"]) == ("video/quicktime", "clip.mov")


async def test_a_sticker_arrives_as_a_webp_picture(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    sticker = picture(512, 512)
    message = await send(http, api_client, media={"kind": "sticker", "base64": b64(sticker)})
    assert message["kind"] == "sticker"
    got = await delivered(services, worker)
    assert (got["kind"], got["mime_type"], got["filename"]) == (
        "sticker",
        "image/webp",
        "sticker.webp",
    )
    assert got["size"] == len(sticker)


async def test_a_location_with_a_title_arrives_as_a_venue_and_the_message_shows_it(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    place = {"latitude": 40.4168, "longitude": -3.7038, "title": "Shop", "address": "Sol 1"}
    message = await send(http, api_client, location=place)
    assert (message["kind"], message["location"], message["contact"]) == ("location", place, None)
    got = await delivered(services, worker)
    assert (got["kind"], got["location"], got["text"]) == ("location", place, None)
    shown = (await http.get(f"{MESSAGES}/{message['id']}", headers=api_client)).json()
    assert shown["status"] == "sent" and shown["location"] == place


async def test_a_location_without_a_title_is_a_plain_point(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    await send(http, api_client, location={"latitude": -33.86, "longitude": 151.2})
    got = await delivered(services, worker)
    assert got["location"] == {
        "latitude": -33.86,
        "longitude": 151.2,
        "title": None,
        "address": None,
    }


async def test_a_contact_card_arrives_with_its_number_normalised(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    card = {"phone": "+1 415-555-2671", "first_name": "Ana", "last_name": "García"}
    message = await send(http, api_client, contact=card)
    expected = {"phone": "14155552671", "first_name": "Ana", "last_name": "García"}
    assert (message["kind"], message["contact"], message["location"]) == (
        "contact",
        expected,
        None,
    )
    got = await delivered(services, worker)
    assert (got["kind"], got["contact"]) == ("contact", expected)


async def test_silent_and_no_link_preview_reach_telegram_and_show_on_the_message(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    message = await send(
        http, api_client, text="see https://example.com", silent=True, link_preview=False
    )
    assert (message["silent"], message["link_preview"]) == (True, False)
    got = await delivered(services, worker)
    assert (got["silent"], got["link_preview"]) == (True, False)


async def test_a_message_is_loud_with_a_link_preview_unless_told_otherwise(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    message = await send(http, api_client, text="see https://example.com")
    assert (message["silent"], message["link_preview"]) == (False, True)
    got = await delivered(services, worker)
    assert (got["silent"], got["link_preview"]) == (False, True)


async def test_a_location_can_answer_a_message(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    first = await send(http, api_client, text="where are you?")
    await drain(worker)
    await send(
        http,
        api_client,
        location={"latitude": 1.5, "longitude": 2.5},
        reply_to=first["id"],
        silent=True,
    )
    sent = await services.telegram.sandboxes[1].sent_log(NUMBER)
    got = await delivered(services, worker)
    question = next(s for s in sent if s["text"] == "where are you?")
    assert got["kind"] == "location" and got["reply_to"] == question["message_id"]
    assert got["silent"] is True


async def test_a_multipart_video_upload_takes_its_options_as_form_fields(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    response = await http.post(
        MESSAGES,
        data={"to": NUMBER, "media_kind": "video", "silent": "true", "caption": "clip"},
        files={"file": ("clip.webm", mp4(fmt="webm"), "video/webm")},
        headers=api_client,
    )
    assert response.status_code == 202, response.text
    got = await delivered(services, worker)
    assert (got["kind"], got["mime_type"], got["filename"]) == ("video", "video/webm", "clip.webm")
    assert got["silent"] is True and got["video"]["width"] == 32


@pytest.mark.parametrize(
    ("location", "field"),
    [
        ({"latitude": 90.5, "longitude": 0}, "location.latitude"),
        ({"latitude": 0, "longitude": -180.01}, "location.longitude"),
        ({"latitude": "north", "longitude": 0}, "location.latitude"),
        ({"latitude": True, "longitude": 0}, "location.latitude"),
        ({"longitude": 0}, "location.latitude"),
    ],
)
async def test_coordinates_out_of_range_or_not_numbers_are_refused(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    person: Any,
    location: dict[str, Any],
    field: str,
) -> None:
    error = await refused(http, api_client, location=location)
    assert error["code"] in ("invalid_field", "missing_field") and field in error["message"]


async def test_an_address_without_a_title_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    error = await refused(
        http, api_client, location={"latitude": 1, "longitude": 1, "address": "Main St 1"}
    )
    assert "needs 'location.title'" in error["message"]


async def test_text_and_a_location_together_are_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    error = await refused(http, api_client, text="here", location={"latitude": 1, "longitude": 1})
    assert error["code"] == "invalid_field"
    assert "not 'text' and 'location'" in error["message"]


async def test_a_location_and_a_contact_together_are_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    error = await refused(
        http,
        api_client,
        location={"latitude": 1, "longitude": 1},
        contact={"phone": "14155552671", "first_name": "Ana"},
    )
    assert "not 'location' and 'contact'" in error["message"]


async def test_a_contact_with_an_invalid_phone_or_no_name_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    error = await refused(http, api_client, contact={"phone": "12", "first_name": "Ana"})
    assert error["code"] == "invalid_field"
    assert error["message"].startswith("Contact phone number is invalid")
    error = await refused(http, api_client, contact={"phone": "14155552671"})
    assert error == {"code": "missing_field", "message": "Missing field 'contact.first_name'"}


async def test_a_sticker_that_is_not_webp_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    png = picture(64, 64, "PNG")
    error = await refused(http, api_client, media={"kind": "sticker", "base64": b64(png)})
    assert error["code"] == "media_type_mismatch"
    assert "'sticker' must be a WebP picture, but the bytes are image/png" in error["message"]


async def test_a_sticker_over_512_pixels_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    big = picture(513, 100)
    error = await refused(http, api_client, media={"kind": "sticker", "base64": b64(big)})
    assert error["code"] == "invalid_image" and "513x100" in error["message"]


async def test_an_animated_webp_is_not_a_sticker(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    frames = [Image.new("RGB", (64, 64), color) for color in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], duration=100)
    error = await refused(
        http, api_client, media={"kind": "sticker", "base64": b64(out.getvalue())}
    )
    assert error["code"] == "invalid_image" and "animated" in error["message"]


async def test_a_video_whose_attributes_cannot_be_read_still_goes_with_zeros(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    truncated = mp4()[:64]  # the MP4 signature, then nothing a player could read
    await send(http, api_client, media={"kind": "video", "base64": b64(truncated)})
    got = await delivered(services, worker)
    assert (got["kind"], got["size"]) == ("video", 64)
    assert got["video"] == {"duration_s": 0.0, "width": 0, "height": 0}


async def test_a_video_that_is_not_a_video_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    error = await refused(
        http, api_client, media={"kind": "video", "base64": b64(picture(8, 8, "PNG"))}
    )
    assert error["code"] == "media_type_mismatch"
    assert "MP4, QuickTime (MOV) or WebM" in error["message"]


@pytest.mark.parametrize("settings_overrides", [{"limits": {"video_bytes": 100_000}}])
async def test_a_video_over_video_bytes_is_refused_with_413(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    error = await refused(
        http, api_client, 413, media={"kind": "video", "base64": b64(large_mp4())}
    )
    assert error["code"] == "payload_too_large"
    assert "the limit is 100000 bytes" in error["message"]


async def test_a_silent_flag_that_is_not_a_boolean_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], person: Any
) -> None:
    error = await refused(http, api_client, text="hi", silent="maybe")
    assert error == {"code": "invalid_field", "message": "'silent' must be true or false"}


async def test_a_large_upload_shows_the_upload_action_while_it_goes_out(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    sandbox = services.telegram.sandboxes[1]
    await send(http, api_client, media={"kind": "video", "base64": b64(mp4())})
    small = await delivered(services, worker)
    assert small["action_shown"] is None and sandbox.chat_actions == []
    await send(http, api_client, media={"kind": "video", "base64": b64(large_mp4())})
    large = await delivered(services, worker)
    assert large["action_shown"] == "upload_video"
    peer = sandbox.chat_actions[0][0]
    assert isinstance(peer, UserPeer)
    assert sandbox.chat_actions == [(peer, "upload_video"), (peer, None)]


async def test_without_mark_read_on_reply_the_persons_messages_stay_unread(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    worker: Any,
    person: Any,
) -> None:
    await send(http, api_client, text="answer")
    got = await delivered(services, worker)
    assert got["inbox_read_up_to"] == 0


@pytest.mark.parametrize("settings_overrides", [MARK_READ])
async def test_mark_read_on_reply_marks_the_persons_messages_read_before_the_answer(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, worker: Any
) -> None:
    said = await say(http, NUMBER, "Hi")
    reply = await delivered(services, worker)  # the registration reply
    assert reply["inbox_read_up_to"] == said["message_id"]
    later = await say(http, NUMBER, "a question")
    await send(http, api_client, text="the answer")
    answer = await delivered(services, worker)
    assert answer["text"] == "the answer"
    assert answer["inbox_read_up_to"] == later["message_id"] > said["message_id"]
