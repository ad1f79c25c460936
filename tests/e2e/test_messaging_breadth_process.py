"""End to end, as an integrator would try the messaging breadth on a real `tgw serve --sandbox`
with a real webhook receiver (standardwebhooks signatures checked):

- a reply in a group reaches the webhook with its group and the message it answers;
- an edit, a deletion and a reaction made by the person become signed events;
- the same made through the API are what the person sees (the sandbox's sent log);
- an MP3 sent as a voice note goes out as an OGG/Opus voice bubble;
- a video, a location and a contact card arrive with their fields;
- a media URL pointing at a private address is refused before anything is queued.
"""

from __future__ import annotations

import base64
from typing import Any, cast

import av
import httpx

from tests.e2e.receiver import WebhookReceiver, running
from tests.e2e.test_serve_process import ServeHarness, create_client, free_port, harness, sent_log
from tests.e2e.test_serve_process import register as register_person
from tests.tones import mp3
from tests.waiting import eventually

__all__ = ["harness"]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ANA = "34612345001"
BEA = "34612345002"
GROUP = {"group_name": "Support desk", "group_admin": ANA}


def tiny_mp4() -> bytes:
    """Half a second of a 64x48 video, made here with PyAV (mpeg4 in an MP4 container)."""
    import io

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 40) % 256]) * plane.buffer_size)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def configure(harness: ServeHarness, receiver: WebhookReceiver) -> None:
    harness.write_config(
        sending={"per_second": 0, "per_recipient_interval_s": 0},
        webhook_delivery={"allow_private_targets": True, "retry_schedule_s": [0.2], "timeout_s": 5},
    )
    with harness.config_path.open("a", encoding="utf-8") as config:
        config.write(f'\n[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n')


async def delivered(receiver: WebhookReceiver, event_type: str, **data: Any) -> dict[str, Any]:
    """The first signed event of that type whose `data` has these values (≤20 s)."""

    def match() -> dict[str, Any] | None:
        for received in receiver.delivered().values():
            body = received.body
            if body["type"] == event_type and all(
                body["data"].get(k) == v for k, v in data.items()
            ):
                return body
        return None

    async def found() -> dict[str, Any] | None:
        return match()

    body = await eventually(found, f"{event_type} {data} at the receiver", timeout_s=20.0)
    assert body is not None
    return cast(dict[str, Any], body)


async def person_does(
    http: httpx.AsyncClient, harness: ServeHarness, what: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(f"/admin/sandbox/1/{what}", json=body, headers=harness.admin_headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def sent(
    http: httpx.AsyncClient, harness: ServeHarness, number: str | None, **fields: Any
) -> dict[str, Any]:
    """The sent-log row (to `number`, or any) with these values (≤20 s)."""

    async def row() -> dict[str, Any] | None:
        params = {"number": number} if number is not None else {}
        response = await http.get(
            "/admin/sandbox/1/sent", params=params, headers=harness.admin_headers
        )
        assert response.status_code == 200, response.text
        for found in response.json()["data"]:
            if all(found.get(k) == v for k, v in fields.items()):
                return dict(found)
        return None

    found = await eventually(row, f"a sent message {fields} to {number}", timeout_s=20.0)
    assert found is not None
    return cast(dict[str, Any], found)


async def test_an_integrator_sees_groups_changes_and_the_new_kinds_both_ways(
    harness: ServeHarness,
) -> None:
    receiver = WebhookReceiver(free_port(), SECRET)
    configure(harness, receiver)
    with running(receiver):
        server = await harness.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=20.0) as http:
            api = await create_client(http, harness)
            await register_person(http, harness, ANA, "Hi")
            await register_person(http, harness, BEA, "Hola")
            made = await http.post(
                "/admin/sandbox/1/groups",
                json={**GROUP, "members": [ANA, BEA]},
                headers=harness.admin_headers,
            )
            assert made.status_code in (200, 201), made.text

            # The gateway writes in the group; Bea replies there, mentioning it.
            ours = await http.post(
                "/api/v1/messages", json={**GROUP, "text": "Who needs help?"}, headers=api
            )
            assert ours.status_code == 202, ours.text
            our_id = ours.json()["id"]
            in_group = await sent(http, harness, None, text="Who needs help?")
            reply = await person_does(
                http,
                harness,
                "inbound",
                {
                    "from": {"number": BEA, "first_name": "Bea"},
                    "text": "Me, please",
                    "group": GROUP,
                    "reply_to": in_group["message_id"],
                    "mentions_account": True,
                },
            )
            received = await delivered(receiver, "message.received", text="Me, please")
            assert received["data"]["group"]["title"] == "Support desk"
            assert received["data"]["reply_to"]["message_id"] == our_id
            assert received["data"]["mentioned"] is True

            # Bea edits, reacts to the gateway's message, then deletes her reply.
            await person_does(
                http,
                harness,
                "edit",
                {"number": BEA, "message_id": reply["message_id"], "text": "Me, urgently"},
            )
            edited = await delivered(receiver, "message.edited", text="Me, urgently")
            assert edited["data"]["direction"] == "inbound"
            await person_does(
                http,
                harness,
                "react",
                {"number": BEA, "message_id": in_group["message_id"], "emoji": "👍"},
            )
            reacted = await delivered(receiver, "message.reaction", id=our_id)
            assert reacted["data"]["emojis"] == ["👍"]
            await person_does(
                http, harness, "delete", {"number": BEA, "message_ids": [reply["message_id"]]}
            )
            deleted = await delivered(receiver, "message.deleted", direction="inbound")
            assert deleted["data"]["id"] == received["data"]["id"]

            # The same through the API, on a private message to Ana: what she sees changes.
            private = await http.post(
                "/api/v1/messages", json={"to": ANA, "text": "Your order shipped"}, headers=api
            )
            assert private.status_code == 202, private.text
            private_id = private.json()["id"]
            shipped = await sent(http, harness, ANA, text="Your order shipped")
            edit = await http.patch(
                f"/api/v1/messages/{private_id}",
                json={"text": "Your order shipped today"},
                headers=api,
            )
            assert edit.status_code == 202, edit.text
            await sent(
                http,
                harness,
                ANA,
                message_id=shipped["message_id"],
                text="Your order shipped today",
            )
            react = await http.post(
                f"/api/v1/messages/{private_id}/reactions", json={"emoji": "🎉"}, headers=api
            )
            assert react.status_code == 202, react.text
            await sent(http, harness, ANA, message_id=shipped["message_id"], reactions=["🎉"])
            gone = await http.delete(f"/api/v1/messages/{private_id}", headers=api)
            assert gone.status_code == 202, gone.text
            await sent(http, harness, ANA, message_id=shipped["message_id"], deleted=True)
            outbound_edit = await delivered(receiver, "message.edited", id=private_id)
            assert outbound_edit["data"]["direction"] == "outbound"

            # An MP3 as a voice note becomes a voice bubble.
            voice = await http.post(
                "/v3/telegram/single/voice_note/message/1",
                json={
                    "number": ANA,
                    "voice_note": base64.b64encode(mp3(2.0)).decode(),
                    "filename": "memo.mp3",
                },
                headers=api,
            )
            assert voice.status_code == 200, voice.text
            bubble = await sent(http, harness, ANA, kind="voice_note")
            assert bubble["mime_type"] == "audio/ogg" and bubble["voice"] is True
            assert bubble["filename"] == "memo.ogg" and bubble["duration_s"] >= 1

            # A video, a location and a contact card.
            for body in (
                {"media": {"kind": "video", "base64": base64.b64encode(tiny_mp4()).decode()}},
                {"location": {"latitude": 40.4168, "longitude": -3.7038, "title": "Our shop"}},
                {"contact": {"phone": "34612345678", "first_name": "Carla"}},
            ):
                answer = await http.post("/api/v1/messages", json={"to": ANA, **body}, headers=api)
                assert answer.status_code == 202, answer.text
            video = await sent(http, harness, ANA, kind="video")
            assert video["video"]["width"] == 64 and video["video"]["height"] == 48
            venue = await sent(http, harness, ANA, kind="location")
            assert venue["location"]["title"] == "Our shop"
            card = await sent(http, harness, ANA, kind="contact")
            assert card["contact"]["first_name"] == "Carla"

            # A media URL on a private address is refused, and nothing is queued for it.
            before = len(await sent_log(http, harness, ANA))
            refused = await http.post(
                "/api/v1/messages",
                json={
                    "to": ANA,
                    "media": {"kind": "image", "url": "http://169.254.169.254/latest/x.png"},
                },
                headers=api,
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == "media_target_forbidden"
            assert len(await sent_log(http, harness, ANA)) == before
    assert not receiver.bad_signatures, receiver.bad_signatures[:3]
