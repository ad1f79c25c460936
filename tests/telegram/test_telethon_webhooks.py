"""Issue 5 over the Telethon backend: TL updates for an incoming photo and an outbox read, fed
through the fake MTProto network, end in webhook deliveries signed as Standard Webhooks say
(verified with the standardwebhooks library), the photo behind a signed link."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from standardwebhooks import Webhook

from app.cluster.ownership import make_worker
from tests.conftest import Clock, drain
from tests.inbound.webhooks.helpers import (
    Receiver,
    add_endpoint,
    delivery_worker,
    now_clock,
    public_dns,
)
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.test_telethon_backend import (
    PERSON_PHONE,
    _png,
    _rows_including,
    _send_text,
    message_row,
    ready_gateway,
)
from tests.waiting import eventually


@pytest.fixture
def clock() -> Clock:
    return now_clock()  # the library checks webhook-timestamp against the real time


async def test_a_photo_and_a_read_receipt_become_signed_webhooks(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        services.resolve_host = public_dns
        _, secret = await add_endpoint(services)
        photo = _png()
        sent_photo = fake.person_sends(person, account, "the receipt", photo=photo)
        await eventually(lambda: _rows_including(services, sent_photo), "the photo")
        message_id = await _send_text(http, headers, "Thanks, received")
        await drain(make_worker(services, 1))
        ours = await message_row(services, message_id)
        assert ours.telegram_message_id is not None
        fake.person_reads(person, account, ours.telegram_message_id)

        async def read() -> bool:
            return (await message_row(services, message_id)).status == "read"

        await eventually(read, "the read receipt")
        receiver = Receiver()
        async with delivery_worker(services, receiver) as worker:
            for _ in range(5):
                await worker.step()
        bodies = [Webhook(secret).verify(r.content, dict(r.headers)) for r in receiver.requests]
        # `number` is top-level on message.received only; the others name the person in data.
        mine = [
            b
            for b in bodies
            if PERSON_PHONE in (b.get("number"), b["data"].get("to"), b["data"].get("number"))
        ]
        assert [b["type"] for b in mine] == ["message.received", "message.sent", "message.read"]
        assert "number" not in mine[1] and "number" not in mine[2]
        assert [b["seq"] for b in mine] == sorted(b["seq"] for b in mine)
        received, _, was_read = mine
        assert received["message"] == "the receipt"
        media = received["data"]["media"]
        assert (media["kind"], media["size"]) == ("image", len(photo))
        assert media["sha256"] == hashlib.sha256(photo).hexdigest()
        assert was_read["data"]["id"] == message_id
        url = urlsplit(media["url"])
        download = await http.get(f"{url.path}?{url.query}")
        assert download.status_code == 200 and download.content == photo
