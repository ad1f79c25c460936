"""The n8n recipe: docs/integrations/n8n-workflow.json is an n8n workflow of the expected
shape, and played on the very webhook tgw delivers (captured from its delivery worker) it
answers the person through tgw's POST /api/v1/messages, once per event."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.services import Services
from tests.conftest import ADMIN, Clock, drain, say
from tests.inbound.webhooks.helpers import Receiver, delivery_worker, now_clock, public_dns
from tests.integrations.n8n_player import Player
from tests.integrations.recipes import RECIPES

WORKFLOW: dict[str, Any] = json.loads((RECIPES / "n8n-workflow.json").read_text())
PERSON = "34612345678"
REPLY = "Thanks Ana! We got your message and will answer soon."
GROUP = {"group_name": "Night Shift Ops", "group_admin": PERSON}


@pytest.fixture
def clock() -> Clock:
    return now_clock()  # standardwebhooks checks the signature's timestamp against real time


def nodes_by_name() -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in WORKFLOW["nodes"]}


def test_the_workflow_is_a_webhook_an_if_a_set_and_an_http_request_in_a_chain() -> None:
    nodes = nodes_by_name()
    assert len(nodes) == len(WORKFLOW["nodes"]), "node names are unique in n8n"
    for node in WORKFLOW["nodes"]:
        assert {"id", "name", "type", "typeVersion", "position", "parameters"} <= set(node)
        assert len(node["position"]) == 2
    assert [(n["type"], n["typeVersion"]) for n in WORKFLOW["nodes"]] == [
        ("n8n-nodes-base.webhook", 2),
        ("n8n-nodes-base.if", 2),
        ("n8n-nodes-base.set", 3.4),
        ("n8n-nodes-base.httpRequest", 4.2),
    ]
    chain = []
    name = WORKFLOW["nodes"][0]["name"]
    while name in WORKFLOW["connections"]:
        [targets, *other_outputs] = WORKFLOW["connections"][name]["main"]
        assert all(not output for output in other_outputs), "an IF's false branch ends the run"
        [target] = targets
        assert target["type"] == "main" and target["node"] in nodes
        chain.append(target["node"])
        name = target["node"]
    assert [nodes[n]["type"] for n in chain] == [
        "n8n-nodes-base.if",
        "n8n-nodes-base.set",
        "n8n-nodes-base.httpRequest",
    ]


def test_the_http_request_takes_the_client_secret_from_a_credential_not_the_file() -> None:
    request = nodes_by_name()["Reply through tgw"]
    parameters = request["parameters"]
    assert parameters["method"] == "POST"
    assert parameters["url"].endswith("/api/v1/messages")
    assert (parameters["authentication"], parameters["genericAuthType"]) == (
        "genericCredentialType",
        "httpHeaderAuth",
    )
    assert set(request["credentials"]) == {"httpHeaderAuth"}
    headers = {h["name"] for h in parameters["headerParameters"]["parameters"]}
    assert headers == {"X-WM-CLIENT-ID", "Idempotency-Key"}
    assert "X-WM-CLIENT-SECRET" not in json.dumps(WORKFLOW)  # it is in n8n's credential store


async def delivered_webhook(
    services: Services, http: httpx.AsyncClient, body: dict[str, Any]
) -> tuple[dict[str, str], Any]:
    """What tgw POSTs to the n8n webhook when the person writes `body`: (headers, JSON)."""
    services.resolve_host = public_dns
    endpoint = await http.post(
        "/admin/webhooks",
        json={"url": "https://n8n.example.com/webhook/tgw-events", "events": ["message.received"]},
        headers=ADMIN,
    )
    assert endpoint.status_code == 201, endpoint.text
    person = {"number": PERSON, "first_name": "Ana"}
    written = await http.post(
        "/admin/sandbox/1/inbound", json={"from": person, **body}, headers=ADMIN
    )
    assert written.status_code == 200 and written.json()["handled"], written.text
    receiver = Receiver()
    async with delivery_worker(services, receiver) as deliveries:
        assert await deliveries.step() == 1
    [request] = receiver.requests
    Webhook(endpoint.json()["secret"]).verify(request.content, dict(request.headers))
    return dict(request.headers), json.loads(request.content)


def player(http: httpx.AsyncClient, api_client: dict[str, str]) -> Player:
    # The workflow's X-WM-CLIENT-ID is a placeholder the user edits, as they would in n8n.
    workflow = json.loads(json.dumps(WORKFLOW))
    [request] = [n for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.httpRequest"]
    for header in request["parameters"]["headerParameters"]["parameters"]:
        if header["name"] == "X-WM-CLIENT-ID":
            header["value"] = api_client["X-WM-CLIENT-ID"]
    secret = ("X-WM-CLIENT-SECRET", api_client["X-WM-CLIENT-SECRET"])
    return Player(workflow, http, {"tgw client secret": secret})


async def sent_texts(http: httpx.AsyncClient, worker: Any) -> list[str]:
    await drain(worker)
    log = await http.get(f"/admin/sandbox/1/sent?number={PERSON}", headers=ADMIN)
    return [m["text"] for m in log.json()["data"] if m["text"] == REPLY]


async def test_a_received_message_is_answered_through_tgw(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, PERSON, "Hi")
    headers, body = await delivered_webhook(services, http, {"text": "Open on Sunday?"})
    n8n = player(http, api_client)
    ran = await n8n.webhook("tgw-events", headers, body)
    assert ran == ["tgw webhook", "Private text?", "Compose the reply", "Reply through tgw"]
    [response] = n8n.requests
    assert response.status_code == 202, response.text
    assert await sent_texts(http, worker) == [REPLY]


async def test_a_redelivered_event_is_answered_once(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, PERSON, "Hi")
    headers, body = await delivered_webhook(services, http, {"text": "Open on Sunday?"})
    n8n = player(http, api_client)
    await n8n.webhook("tgw-events", headers, body)
    await n8n.webhook("tgw-events", headers, body)  # tgw retried: n8n runs the workflow again
    first, again = n8n.requests
    assert again.json()["id"] == first.json()["id"]  # the Idempotency-Key is the event's id
    assert await sent_texts(http, worker) == [REPLY]


async def test_a_group_message_is_not_answered(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, PERSON, "Hi")
    group = await http.post("/admin/sandbox/1/groups", json={**GROUP, "members": []}, headers=ADMIN)
    assert group.status_code == 200, group.text
    headers, body = await delivered_webhook(
        services, http, {"text": "Who is on call?", "group": GROUP}
    )
    assert body["data"]["group"] is not None and body["number"] == PERSON
    n8n = player(http, api_client)
    assert await n8n.webhook("tgw-events", headers, body) == ["tgw webhook", "Private text?"]
    assert n8n.requests == []
    assert await sent_texts(http, worker) == []
