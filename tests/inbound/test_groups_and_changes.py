"""Group messages, edits, deletions and reactions people make, through the sandbox's admin API:
what is forwarded (registered people anywhere, anyone in an allowed group), never answered in a
group, and each change reported once."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from app.cluster.ownership import make_worker
from app.models import Event, InboundMessage, Message
from app.services import Services
from app.telegram.port import MessageEdited, MessagesDeleted, ReactionChanged
from app.telegram.sandbox.state import _stable_int
from inbound.processor import InboundProcessor
from tests.conftest import ADMIN, drain, say

ALICE = "34611111111"  # registered
BOB = "34622222222"  # never registered
GROUP = {"group_name": "Night Shift Ops", "group_admin": ALICE}
# The sandbox's chat id of that group (stable: derived from instance, title and creator).
CHAT_ID = _stable_int("chat", 1, "Night Shift Ops", ALICE, bits=36)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


async def _setup(http: httpx.AsyncClient) -> None:
    await say(http, ALICE, "Hi")
    body = {**GROUP, "members": [BOB]}
    response = await http.post("/admin/sandbox/1/groups", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["chat_id"] == CHAT_ID


async def _in_group(
    http: httpx.AsyncClient, number: str, text: str, **extra: Any
) -> dict[str, Any]:
    body = {"from": {"number": number, "first_name": "P"}, "text": text, "group": GROUP, **extra}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["handled"]
    return answer


async def _control(http: httpx.AsyncClient, name: str, **body: Any) -> None:
    response = await http.post(f"/admin/sandbox/1/{name}", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"handled": True}


async def _events(services: Services, type_: str) -> list[tuple[dict[str, Any], str | None]]:
    """(data, conversation) of each event of `type_`, in order."""
    async with services.database.read() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == type_).order_by(Event.seq)  # type: ignore[arg-type]
        )
        return [(orjson.loads(r.payload)["data"], r.conversation) for r in rows]


async def _group_texts(services: Services) -> list[str | None]:
    return [d["text"] for d, _ in await _events(services, "message.received") if d["group"]]


async def test_a_registered_persons_group_message_is_forwarded_with_its_group(
    services: Services, http: httpx.AsyncClient
) -> None:
    await _setup(http)
    await _in_group(http, ALICE, "Backup is late")
    received = [(d, c) for d, c in await _events(services, "message.received") if d["group"]]
    assert len(received) == 1
    data, conversation = received[0]
    assert data["group"] == {"id": CHAT_ID, "title": "Night Shift Ops"}
    assert data["mentioned"] is False and data["text"] == "Backup is late"
    assert data["sender"]["number"] == ALICE
    assert conversation == f"1:g:{CHAT_ID}"
    async with services.database.read() as session:
        row = await session.scalar(
            select(InboundMessage).where(InboundMessage.id == data["id"])  # type: ignore[arg-type]
        )
    assert row is not None and (row.group_id, row.group_title) == (CHAT_ID, "Night Shift Ops")


async def test_an_unregistered_persons_message_in_a_group_not_allowed_is_dropped_unanswered(
    services: Services, http: httpx.AsyncClient
) -> None:
    await _setup(http)
    sent_before = await services.telegram.sandboxes[1].sent_log()
    await _in_group(http, BOB, "Hi")  # a greeting in a group registers no one
    await _in_group(http, BOB, "anyone there?")
    assert await _group_texts(services) == []
    assert await services.telegram.sandboxes[1].sent_log() == sent_before
    assert await _events(services, "recipient.registered") != []  # Alice's only
    assert len(await _events(services, "recipient.registered")) == 1
    groups = (await http.get("/admin/instances/1/groups", headers=ADMIN)).json()["data"]
    assert [(g["id"], g["title"], g["allowed"], g["source"]) for g in groups] == [
        (CHAT_ID, "Night Shift Ops", False, "default")
    ]


async def test_allowing_a_group_forwards_everyones_messages_until_disallowed(
    services: Services, http: httpx.AsyncClient
) -> None:
    await _setup(http)
    allowed = await http.put(f"/admin/instances/1/groups/{CHAT_ID}", headers=ADMIN)
    assert allowed.status_code == 200, allowed.text
    assert (allowed.json()["allowed"], allowed.json()["source"]) == (True, "admin")
    await _in_group(http, BOB, "first")
    disallowed = await http.delete(f"/admin/instances/1/groups/{CHAT_ID}", headers=ADMIN)
    assert disallowed.status_code == 200 and disallowed.json()["allowed"] is False
    await _in_group(http, BOB, "second")
    await _in_group(http, ALICE, "third")  # registered: forwarded anyway
    assert await _group_texts(services) == ["first", "third"]


async def test_the_bot_api_marked_group_id_names_the_same_group(
    http: httpx.AsyncClient,
) -> None:
    response = await http.put(f"/admin/instances/1/groups/-{CHAT_ID}", headers=ADMIN)
    assert response.status_code == 200 and response.json()["id"] == CHAT_ID


@pytest.mark.parametrize("group_id", ["abc", "0", "-", "99999999999999999999"])
async def test_a_group_id_that_is_not_one_is_refused(
    http: httpx.AsyncClient, group_id: str
) -> None:
    response = await http.put(f"/admin/instances/1/groups/{group_id}", headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_field"


async def test_the_groups_of_an_unknown_instance_are_not_found(http: httpx.AsyncClient) -> None:
    response = await http.get("/admin/instances/7/groups", headers=ADMIN)
    assert response.status_code == 404


class TestConfiguredGroups:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        # The Bot API's marked form of a basic group's id.
        return {"instances": [{"number": 1, "backend": "sandbox", "allowed_groups": [-CHAT_ID]}]}

    async def test_a_group_allowed_in_the_configuration_forwards_everyone(
        self, services: Services, http: httpx.AsyncClient
    ) -> None:
        await _setup(http)
        groups = (await http.get("/admin/instances/1/groups", headers=ADMIN)).json()["data"]
        assert [(g["id"], g["allowed"], g["source"]) for g in groups] == [(CHAT_ID, True, "config")]
        await _in_group(http, BOB, "hello all")
        assert await _group_texts(services) == ["hello all"]


async def test_a_group_reply_to_the_gateways_message_carries_reply_to_and_mentioned(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await _setup(http)
    response = await http.post(
        "/v3/telegram/group/text/message/1",
        json={**GROUP, "message": "Backup done"},
        headers=api_client,
    )
    assert response.status_code == 200, response.text
    await drain(make_worker(services, 1))
    ours = (await services.telegram.sandboxes[1].sent_log())[-1]
    await _in_group(http, ALICE, "thanks", reply_to=ours["message_id"])
    await _in_group(http, ALICE, "@acme look", mentions_account=True)
    await _in_group(http, ALICE, "plain")
    received = [d for d, _ in await _events(services, "message.received") if d["group"]]
    assert received[0]["reply_to"] == {
        "telegram_message_id": ours["message_id"],
        "message_id": response.json()["id"],
    }
    assert [d["mentioned"] for d in received] == [True, True, False]


async def test_mentions_account_outside_a_group_is_refused(http: httpx.AsyncClient) -> None:
    body = {"from": {"number": ALICE}, "text": "x", "mentions_account": True}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    assert response.status_code == 400


async def test_someone_outside_the_group_cannot_write_in_it(http: httpx.AsyncClient) -> None:
    await _setup(http)
    body = {"from": {"number": "34633333333"}, "text": "x", "group": GROUP}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert "not a member" in response.json()["error"]["message"]


async def test_an_edit_of_a_forwarded_message_becomes_message_edited(
    services: Services, http: httpx.AsyncClient
) -> None:
    await say(http, ALICE, "Hi")
    written = await say(http, ALICE, "order 12")
    await _control(http, "edit", number=ALICE, message_id=written["message_id"], text="order 13")
    [(data, conversation)] = await _events(services, "message.edited")
    assert (data["direction"], data["text"], data["group"]) == ("inbound", "order 13", None)
    assert data["telegram_message_id"] == written["message_id"]
    assert data["sender"]["number"] == ALICE and conversation == f"1:{ALICE}"
    [(received, _)] = [e for e in await _events(services, "message.received")]
    assert data["id"] == received["id"]


async def test_an_edit_of_a_message_never_forwarded_is_not_reported(
    services: Services, http: httpx.AsyncClient
) -> None:
    written = await say(http, BOB, "who are you")  # not registered: ignored
    await _control(http, "edit", number=BOB, message_id=written["message_id"], text="hello?")
    assert await _events(services, "message.edited") == []


async def test_a_person_deleting_a_forwarded_message_becomes_message_deleted(
    services: Services, http: httpx.AsyncClient
) -> None:
    await _setup(http)
    written = await _in_group(http, ALICE, "oops")
    await _control(http, "delete", number=ALICE, message_ids=[written["message_id"]])
    [(data, conversation)] = await _events(services, "message.deleted")
    assert data["direction"] == "inbound" and data["telegram_message_id"] == written["message_id"]
    assert data["group"] == {"id": CHAT_ID, "title": "Night Shift Ops"}
    assert conversation == f"1:g:{CHAT_ID}"
    async with services.database.read() as session:
        row = await session.get(InboundMessage, data["id"])
    assert row is not None and row.deleted_at is not None


async def test_a_private_history_cleared_for_both_sides_reports_the_gateways_message(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, ALICE, "Hi")
    response = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": ALICE, "message": "Your code is 1234"},
        headers=api_client,
    )
    await drain(make_worker(services, 1))
    async with services.database.read() as session:
        ours = await session.get(Message, response.json()["id"])
    assert ours is not None and ours.telegram_message_id is not None
    await _control(http, "delete", number=ALICE, message_ids=[ours.telegram_message_id])
    [(data, conversation)] = await _events(services, "message.deleted")
    assert (data["id"], data["direction"]) == (ours.id, "outbound")
    assert conversation == f"1:{ALICE}"


async def test_a_reaction_to_the_gateways_message_and_its_removal_are_reported(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    await say(http, ALICE, "Hi")
    response = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": ALICE, "message": "Shipped"},
        headers=api_client,
    )
    await drain(make_worker(services, 1))
    sent = [r for r in await services.telegram.sandboxes[1].sent_log() if r["text"] == "Shipped"]
    target = sent[0]["message_id"]
    await _control(http, "react", number=ALICE, message_id=target, emoji="👍")
    await _control(http, "react", number=ALICE, message_id=target, emoji=None)
    reactions = [d for d, _ in await _events(services, "message.reaction")]
    assert [d["emojis"] for d in reactions] == [["👍"], []]
    assert {d["id"] for d in reactions} == {response.json()["id"]}
    assert reactions[0]["sender"]["number"] == ALICE
    assert reactions[0]["direction"] == "inbound"


async def test_a_reaction_by_someone_unregistered_in_a_group_not_allowed_is_dropped(
    services: Services, http: httpx.AsyncClient
) -> None:
    await _setup(http)
    written = await _in_group(http, ALICE, "vote here")
    await _in_group(http, BOB, "me too")  # dropped: Bob is not registered
    await _control(http, "react", number=BOB, message_id=written["message_id"], emoji="🔥")
    assert await _events(services, "message.reaction") == []
    await _control(http, "react", number=ALICE, message_id=written["message_id"], emoji="🔥")
    [(data, conversation)] = await _events(services, "message.reaction")
    assert data["group"] == {"id": CHAT_ID, "title": "Night Shift Ops"}
    assert conversation == f"1:g:{CHAT_ID}"


async def test_replayed_edits_deletions_and_reactions_give_no_second_event(
    services: Services, http: httpx.AsyncClient
) -> None:
    await say(http, ALICE, "Hi")
    written = await say(http, ALICE, "order 12")
    message_id = written["message_id"]
    await _control(http, "edit", number=ALICE, message_id=message_id, text="order 13")
    await _control(http, "react", number=ALICE, message_id=message_id, emoji="👍")
    await _control(http, "delete", number=ALICE, message_ids=[message_id])
    recipient_id = (await _events(services, "message.edited"))[0][0]["sender"]["user_id"]
    processor = InboundProcessor(
        1, services.database, services.settings, services.wakeup, services.clock
    )
    now = services.clock()
    # As Telegram offers them again after a restart (catch-up from an older position).
    await processor(
        [
            MessageEdited(message_id, now, recipient_id, "order 13"),
            ReactionChanged(message_id, recipient_id, ("👍",), now),
            MessagesDeleted((message_id,)),
        ]
    )
    for type_ in ("message.edited", "message.reaction", "message.deleted"):
        assert len(await _events(services, type_)) == 1, type_


async def test_a_person_cannot_edit_someone_elses_message(http: httpx.AsyncClient) -> None:
    await say(http, ALICE, "Hi")
    written = await say(http, ALICE, "mine")
    await say(http, BOB, "Hi")
    response = await http.post(
        "/admin/sandbox/1/edit",
        json={"number": BOB, "message_id": written["message_id"], "text": "x"},
        headers=ADMIN,
    )
    assert response.status_code == 400
