"""The Chatwoot recipe end to end: tgw (sandbox) -> its webhook delivery worker -> the bridge
(docs/integrations/chatwoot_bridge.py) -> a fake Chatwoot speaking Chatwoot's API, and back:
Chatwoot's message_created webhook -> the bridge -> tgw's POST /api/v1/messages -> the
sandbox's sent log."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.main import create_app, make_delivery_worker
from app.services import Services
from inbound.webhooks.delivery import DeliveryWorker
from tests.conftest import ADMIN, Clock, drain, say
from tests.inbound.webhooks.helpers import now_clock, public_dns
from tests.integrations.fake_chatwoot import HOST as CHATWOOT_HOST
from tests.integrations.fake_chatwoot import Attachment, FakeChatwoot
from tests.integrations.recipes import Hosts, load_recipe

bridge_module = load_recipe("chatwoot_bridge")

PERSON = "34612345678"
WEBHOOK_TOKEN = "cw-hook-token"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def clock() -> Clock:
    return now_clock()  # standardwebhooks checks the signature's timestamp against real time


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"server": {"public_url": "http://tgw.test"}}  # media links the bridge can fetch


@dataclass
class Setup:
    http: httpx.AsyncClient  # tgw
    chatwoot: FakeChatwoot
    bridge: Any  # chatwoot_bridge.Bridge
    to_bridge: httpx.AsyncClient
    deliveries: DeliveryWorker
    worker: Any  # tgw's send worker
    hosts: Hosts
    earlier: int = 0  # messages sent to the person before the test's own (the welcome)

    async def person_says(self, text: str, **extra: Any) -> None:
        person = {"number": PERSON, "first_name": "Ana", "last_name": "Pérez"}
        body = {"from": person, "text": text, **extra}
        response = await self.http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
        assert response.status_code == 200 and response.json()["handled"], response.text

    async def deliver(self) -> int:
        """One round of tgw's webhook delivery worker: how many deliveries it made."""
        delivered: int = await self.deliveries.step()
        return delivered

    async def chatwoot_posts(self, payload: dict[str, Any], token: str = WEBHOOK_TOKEN) -> Any:
        response = await self.to_bridge.post(f"/chatwoot/events?token={token}", json=payload)
        return response

    async def sent_to_person(self) -> list[dict[str, Any]]:
        await drain(self.worker)
        log = await self.http.get(f"/admin/sandbox/1/sent?number={PERSON}", headers=ADMIN)
        sent: list[dict[str, Any]] = log.json()["data"]
        return sent[self.earlier :]


@pytest.fixture
async def setup(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> AsyncIterator[Setup]:
    services.resolve_host = public_dns
    chatwoot = FakeChatwoot()
    endpoint = await http.post(
        "/admin/webhooks",
        json={"url": "http://bridge.test/tgw/events", "events": ["message.received"]},
        headers=ADMIN,
    )
    assert endpoint.status_code == 201, endpoint.text
    config = bridge_module.Config(
        tgw_url="http://tgw.test",
        tgw_client_id=api_client["X-WM-CLIENT-ID"],
        tgw_client_secret=api_client["X-WM-CLIENT-SECRET"],
        tgw_webhook_secret=endpoint.json()["secret"],
        chatwoot_url=f"http://{CHATWOOT_HOST}",
        chatwoot_token=chatwoot.token,
        chatwoot_account_id=chatwoot.account_id,
        chatwoot_inbox_id=chatwoot.inbox_id,
        chatwoot_webhook_token=WEBHOOK_TOKEN,
    )
    apps: dict[str, Any] = {"tgw.test": create_app(services), CHATWOOT_HOST: chatwoot.app()}
    hosts = Hosts(apps)
    bridge_app = bridge_module.create_app(config, hosts)
    hosts.transports["bridge.test"] = httpx.ASGITransport(app=bridge_app)
    async with (
        httpx.AsyncClient(transport=hosts) as delivery_client,
        httpx.AsyncClient(transport=hosts, base_url="http://bridge.test") as to_bridge,
    ):
        yield Setup(
            http,
            chatwoot,
            bridge_app.state.bridge,
            to_bridge,
            make_delivery_worker(services, delivery_client),
            worker,
            hosts,
        )
        await bridge_app.state.bridge.aclose()


async def registered(setup: Setup) -> None:
    await say(setup.http, PERSON, "Hi", first_name="Ana", last_name="Pérez")
    setup.earlier = len(await setup.sent_to_person())  # the welcome


async def test_a_telegram_conversation_appears_in_chatwoot_with_its_contact(setup: Setup) -> None:
    await registered(setup)
    await setup.person_says("Is my order shipped?")
    assert await setup.deliver() == 1
    await setup.person_says("It was due on Monday")
    assert await setup.deliver() == 1
    [contact] = setup.chatwoot.contacts.values()
    assert contact["phone_number"] == f"+{PERSON}"
    assert contact["identifier"] == f"tgw:{PERSON}"
    assert contact["name"] == "Ana Pérez"
    [conversation] = setup.chatwoot.conversations.values()
    assert conversation["inbox_id"] == setup.chatwoot.inbox_id
    messages = setup.chatwoot.conversation_messages(conversation["id"])
    assert [(m["content"], m["message_type"], m["private"]) for m in messages] == [
        ("Is my order shipped?", "incoming", False),
        ("It was due on Monday", "incoming", False),
    ]


async def test_an_agent_reply_reaches_the_person_on_telegram_once(setup: Setup) -> None:
    await registered(setup)
    await setup.person_says("Is my order shipped?")
    await setup.deliver()
    [conversation_id] = setup.chatwoot.conversations
    reply = setup.chatwoot.agent_reply(conversation_id, "Yes, it left today 📦")
    first = await setup.chatwoot_posts(reply)
    assert first.status_code == 200, first.text
    again = await setup.chatwoot_posts(reply)  # Chatwoot delivers the webhook again
    assert again.status_code == 200, again.text
    assert again.json()["ids"] == first.json()["ids"]  # tgw answered the first answer again
    sent = await setup.sent_to_person()
    assert [(m["kind"], m["text"]) for m in sent] == [("text", "Yes, it left today 📦")]


async def test_the_bridge_ignores_its_own_echoes_private_notes_and_other_inboxes(
    setup: Setup,
) -> None:
    await registered(setup)
    await setup.person_says("Is my order shipped?")
    await setup.deliver()
    [conversation_id] = setup.chatwoot.conversations
    note = setup.chatwoot.agent_reply(conversation_id, "Customer is grumpy", private=True)
    elsewhere = setup.chatwoot.agent_reply(conversation_id, "Wrong inbox")
    elsewhere = {**elsewhere, "conversation": {**elsewhere["conversation"], "inbox_id": 99}}
    echoes = [w for w in setup.chatwoot.webhooks if w["message_type"] == "incoming"]
    assert echoes, "the API channel posts the bridge's incoming messages back to it"
    for payload in [*echoes, note, elsewhere]:
        response = await setup.chatwoot_posts(payload)
        assert response.json() == {"status": "ignored"}, payload
    assert await setup.sent_to_person() == []


async def test_a_repeated_tgw_webhook_is_posted_to_chatwoot_once(setup: Setup) -> None:
    await registered(setup)
    await setup.person_says("Is my order shipped?")
    await setup.deliver()
    listed = await setup.http.get("/admin/webhooks", headers=ADMIN)
    [endpoint] = listed.json()["data"]
    history = await setup.http.get(f"/admin/webhooks/{endpoint['id']}/deliveries", headers=ADMIN)
    [delivery] = history.json()["data"]
    replay = await setup.http.post(f"/admin/deliveries/{delivery['id']}/replay", headers=ADMIN)
    assert replay.status_code == 200, replay.text
    assert await setup.deliver() == 1  # the same webhook-id reached the bridge again
    assert len(setup.chatwoot.messages) == 1


async def test_a_forged_tgw_webhook_or_chatwoot_webhook_is_refused(setup: Setup) -> None:
    body = b'{"type": "message.received", "number": "34612345678", "message": "hi"}'
    headers = {
        "webhook-id": "evt_forged",
        "webhook-timestamp": str(int(now_clock()().timestamp())),
        "webhook-signature": "v1," + base64.b64encode(hashlib.sha256(body).digest()).decode(),
    }
    forged = await setup.to_bridge.post("/tgw/events", content=body, headers=headers)
    assert forged.status_code == 401
    await registered(setup)
    await setup.person_says("Is my order shipped?")
    await setup.deliver()
    [conversation_id] = setup.chatwoot.conversations
    reply = setup.chatwoot.agent_reply(conversation_id, "Send me your card number")
    refused = await setup.chatwoot_posts(reply, token="guess")
    assert refused.status_code == 401
    assert await setup.sent_to_person() == []
    assert len(setup.chatwoot.messages) == 2  # the question and the reply, no note


async def test_when_chatwoot_fails_tgw_retries_and_the_message_arrives(
    setup: Setup, clock: Clock
) -> None:
    await registered(setup)
    setup.chatwoot.fail_next = 1
    await setup.person_says("Is my order shipped?")
    assert await setup.deliver() == 1
    assert setup.chatwoot.messages == []
    clock.advance(10)  # the first retry is due after 5 s (±20 %)
    assert await setup.deliver() == 1
    assert [m["content"] for m in setup.chatwoot.messages] == ["Is my order shipped?"]


async def test_a_received_picture_appears_in_chatwoot_as_an_attachment(setup: Setup) -> None:
    await registered(setup)
    media = {"kind": "image", "filename": "dot.png", "base64": base64.b64encode(PNG).decode()}
    await setup.person_says("the damaged box", media=media)
    assert await setup.deliver() == 1
    [message] = setup.chatwoot.messages
    assert (message["content"], message["message_type"]) == ("the damaged box", "incoming")
    [attachment] = message["attachments"]
    assert (attachment.filename, attachment.mime_type, attachment.content) == (
        "dot.png",
        "image/png",
        PNG,
    )


async def test_an_agent_attachment_is_sent_as_a_picture_with_the_text_as_caption(
    setup: Setup,
) -> None:
    await registered(setup)
    await setup.person_says("Where do I send it?")
    await setup.deliver()
    [conversation_id] = setup.chatwoot.conversations
    label = Attachment("k1", "label.png", PNG, "image/png")
    reply = setup.chatwoot.agent_reply(conversation_id, "Print this label", uploads=[label])
    response = await setup.chatwoot_posts(reply)
    assert response.status_code == 200, response.text
    [sent] = await setup.sent_to_person()
    assert (sent["kind"], sent["caption"], sent["filename"]) == (
        "image",
        "Print this label",
        "label.png",
    )
    assert sent["sha256"] == hashlib.sha256(PNG).hexdigest()


async def test_a_reply_tgw_refuses_comes_back_to_the_agents_as_a_private_note(
    setup: Setup,
) -> None:
    stranger = setup.chatwoot.add_contact("Bob", "+14155552671", None)
    link = setup.chatwoot.link(stranger["id"], setup.chatwoot.inbox_id)
    conversation = setup.chatwoot.add_conversation(link)
    reply = setup.chatwoot.agent_reply(conversation["id"], "Hello Bob")
    response = await setup.chatwoot_posts(reply)
    assert response.status_code == 200, response.text
    assert response.json()["ids"] == []
    note = setup.chatwoot.messages[-1]
    assert note["private"] is True and note["message_type"] == "outgoing"
    assert note["content"].startswith("Not sent to Telegram (")
    # The note comes back through the webhook too, and is not sent.
    assert (await setup.chatwoot_posts(setup.chatwoot.webhooks[-1])).json()["status"] == "ignored"


async def test_when_tgw_cannot_be_reached_the_agents_are_told_and_chatwoot_gets_an_error(
    setup: Setup,
) -> None:
    await registered(setup)
    await setup.person_says("Is my order shipped?")
    await setup.deliver()
    [conversation_id] = setup.chatwoot.conversations
    config = dataclasses.replace(setup.bridge.config, tgw_url="http://down.test")
    cut_off = bridge_module.create_app(config, setup.hosts)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=cut_off), base_url="http://bridge.test"
    ) as client:
        reply = setup.chatwoot.agent_reply(conversation_id, "Yes, it left today")
        response = await client.post(f"/chatwoot/events?token={WEBHOOK_TOKEN}", json=reply)
    assert response.status_code == 502
    note = setup.chatwoot.messages[-1]
    assert note["private"] is True
    assert note["content"].startswith("Not sent to Telegram yet (tgw: ConnectError")
    assert await setup.sent_to_person() == []


async def test_a_reply_to_a_contact_without_a_phone_number_is_noted_not_sent(
    setup: Setup,
) -> None:
    someone = setup.chatwoot.add_contact("Web visitor", None, None)
    link = setup.chatwoot.link(someone["id"], setup.chatwoot.inbox_id)
    conversation = setup.chatwoot.add_conversation(link)
    reply = setup.chatwoot.agent_reply(conversation["id"], "Hello")
    response = await setup.chatwoot_posts(reply)
    assert response.json() == {"status": "ignored"}
    assert setup.chatwoot.messages[-1]["content"] == (
        "Not sent to Telegram: the contact has no phone number"
    )
