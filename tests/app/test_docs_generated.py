"""The generated OpenAPI document (app/routes/openapi.py) against the real routes and answers.

Every route of the app is documented (summary and answers), and what the response builders
really return (a message, an instance, a webhook endpoint, a delivery, a recipient, an event)
is valid against the schema the document gives for it.
"""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlmodel import select

from app.events import render_event
from app.main import all_routes
from app.models import Event, Message, Recipient
from app.recipients import recipient_data
from app.routes import apidoc, docs, messages_schemas, webhooks_schemas
from app.routes.messages import render_message
from app.routes.openapi import documented
from app.routes.surface import endpoint_of
from app.services import Services
from app.vocabulary import EventType
from inbound.webhooks.endpoints import DELIVERY_STATUSES
from inbound.webhooks.formats import whatsmate_body
from inbound.webhooks.signing import webhook_headers
from tests.conftest import ADMIN, ADMIN_TOKEN, say
from tests.inbound.webhooks.helpers import public_dns

# The console's page and files are HTML, CSS and JS for a browser, and /admin sends the
# browser to the page: not API operations.
CONSOLE_PAGES = {"/admin", "/admin/", "/admin/static/{name:str}"}


def test_every_route_has_a_documented_operation(services: Services) -> None:
    routes = all_routes()
    found = {(info.path, method) for _, method, info, _ in documented(routes)}
    document = docs.build_openapi(services.settings)
    for route in routes:
        info = endpoint_of(route)
        assert info is not None, route
        if info.path in CONSOLE_PAGES:
            continue
        for method in info.methods:
            if method == "HEAD":
                continue
            assert (info.path, method.lower()) in found, f"{method} {info.path} has no Doc"
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert op["summary"] and op["responses"], (method, path)


def _validator(document: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:tgw", resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"urn:tgw#/components/schemas/{name}"}, registry=registry
    )


def check(document: dict[str, Any], name: str, value: Any) -> None:
    errors = [e.message for e in _validator(document, name).iter_errors(value)]
    assert errors == [], (name, value)


@pytest.fixture
def document(services: Services) -> dict[str, Any]:
    return docs.build_openapi(services.settings)


async def test_answers_match_their_documented_schemas(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    document: dict[str, Any],
) -> None:
    services.resolve_host = public_dns
    await say(http, "14155552671", "Hi")
    sent = await http.post(
        "/api/v1/messages", json={"to": "14155552671", "text": "hello"}, headers=api_client
    )
    assert sent.status_code == 202, sent.text
    check(document, "Message", sent.json())
    check(document, "MessageList", (await http.get("/api/v1/messages", headers=api_client)).json())
    recipients = (await http.get("/api/v1/recipients", headers=api_client)).json()
    assert recipients["data"]
    check(document, "RecipientList", recipients)
    instances = (await http.get("/admin/instances", headers=ADMIN)).json()
    assert instances["data"]
    check(document, "InstanceList", instances)
    check(document, "ClientList", (await http.get("/admin/clients", headers=ADMIN)).json())
    hook = await http.post(
        "/admin/webhooks", json={"url": "https://hooks.example.com/tgw"}, headers=ADMIN
    )
    assert hook.status_code == 201, hook.text
    listed = (await http.get("/admin/webhooks", headers=ADMIN)).json()
    check(document, "WebhookEndpointList", listed)
    test = await http.post(f"/admin/webhooks/{hook.json()['id']}/test", headers=ADMIN)
    assert test.status_code == 202, test.text  # a delivery of a test event
    deliveries = await http.get(f"/admin/webhooks/{hook.json()['id']}/deliveries", headers=ADMIN)
    assert deliveries.status_code == 200, deliveries.text
    assert deliveries.json()["data"]
    check(document, "WebhookDeliveryList", deliveries.json())
    events = (await http.get("/api/v1/events", headers=api_client)).json()
    assert events["data"]
    check(document, "EventList", events)


async def test_builders_render_what_the_models_describe(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await say(http, "14155552671", "Hi")
    sent = await http.post(
        "/api/v1/messages", json={"to": "14155552671", "text": "hello"}, headers=api_client
    )
    async with services.database.read() as session:
        message = await session.get(Message, sent.json()["id"])
        recipient = (await session.scalars(select(Recipient))).first()
        event = (await session.scalars(select(Event))).first()
    assert message is not None and recipient is not None and event is not None
    rendered = render_message(message).model_dump()
    assert messages_schemas.Message.model_validate(rendered).model_dump() == rendered
    person = recipient_data(recipient)
    assert messages_schemas.Recipient.model_validate(person).model_dump() == person
    shown = render_event(event)
    assert messages_schemas.Event.model_validate(shown).model_dump(exclude_unset=True) == shown


def test_every_tag_is_listed_once(document: dict[str, Any]) -> None:
    listed = [tag["name"] for tag in document["tags"]]
    assert len(listed) == len(set(listed))
    operations = [
        op
        for item in [*document["paths"].values(), *document["webhooks"].values()]
        for op in item.values()
    ]
    used = {tag for op in operations for tag in op["tags"]}
    assert used == set(listed)


def test_delivery_counts_name_every_delivery_status() -> None:
    assert list(webhooks_schemas.DeliveryCounts.model_fields) == list(DELIVERY_STATUSES)


def _body_schema(document: dict[str, Any], hook: str) -> str:
    ref: str = document["webhooks"][hook]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]["$ref"]
    return ref.rsplit("/", 1)[1]


async def test_webhook_bodies_and_headers_are_what_the_gateway_sends(
    http: httpx.AsyncClient, services: Services, document: dict[str, Any]
) -> None:
    """Every rendered event is a valid 'standard' body; a message.received is also a valid
    'whatsmate' body; the signed headers are the documented ones."""
    await say(http, "14155552671", "Hi")
    await say(http, "14155552671", "How are you?")
    async with services.database.read() as session:
        events = list(await session.scalars(select(Event)))
    assert {e.type for e in events} >= {EventType.MESSAGE_RECEIVED}
    standard = _body_schema(document, "event")
    for event in events:
        shown = render_event(event)
        check(document, standard, shown)
        if event.type == EventType.MESSAGE_RECEIVED:
            assert {"number", "message"} <= set(shown)
            body = whatsmate_body(instance=event.instance, payload=event.payload, token="tk")
            check(document, _body_schema(document, "whatsmateInbound"), body)
            assert set(body) == set(webhooks_schemas.WhatsmateInbound.model_fields)
    for hook in document["webhooks"].values():
        params = hook["post"]["parameters"]
        headers = webhook_headers([b"k" * 32], "evt_1", 1700000000, b"{}")
        assert {p["name"] for p in params if p["in"] == "header"} == set(headers)


async def test_admin_answers_match_their_documented_schemas(
    http: httpx.AsyncClient, services: Services, document: dict[str, Any]
) -> None:
    """Login, sessions, standing, the sandbox's controls, the console and webhook answers."""
    services.resolve_host = public_dns
    answers = {
        "LoginState": await http.get("/admin/instances/1/login", headers=ADMIN),
        "SpamBotAnswer": await http.post(
            "/admin/sandbox/1/spambot", json={"reply": None}, headers=ADMIN
        ),
        "StandingCheck": await http.post("/admin/instances/1/check", headers=ADMIN),
        "NewLoginDone": await http.post("/admin/sandbox/1/new-login", headers=ADMIN),
        "SessionList": await http.get("/admin/instances/1/sessions", headers=ADMIN),
        "Profile": await http.put(
            "/admin/instances/1/profile", json={"first_name": "Gate"}, headers=ADMIN
        ),
        "ConsoleSession": await http.post("/admin/session", json={"token": ADMIN_TOKEN}),
        "InstanceList": await http.get("/admin/instances", headers=ADMIN),
    }
    hook = await http.post(
        "/admin/webhooks", json={"url": "https://hooks.example.com/tgw"}, headers=ADMIN
    )
    check(document, "WebhookEndpointWithSecret", hook.json())
    hook_id = hook.json()["id"]
    answers["RotatedSecret"] = await http.post(
        f"/admin/webhooks/{hook_id}/rotate-secret", headers=ADMIN
    )
    answers["TestQueued"] = await http.post(f"/admin/webhooks/{hook_id}/test", headers=ADMIN)
    answers["WebhookEndpoint"] = await http.patch(
        f"/admin/webhooks/{hook_id}", json={"enabled": False}, headers=ADMIN
    )
    answers["WebhookDeleted"] = await http.delete(f"/admin/webhooks/{hook_id}", headers=ADMIN)
    for name, response in answers.items():
        assert response.status_code < 300, (name, response.text)
        check(document, name, response.json())


# A value for each path parameter of the admin side that reaches the body check.
_PATH_VALUES = {"n": "1", "client_id": "ops@example.com", "id": "ep_nope"}


def _admin_bodies() -> list[tuple[str, str, type[Any]]]:
    found = []
    for path, method, _, doc in documented(all_routes()):
        if path.startswith("/admin") and isinstance(doc.body, apidoc.Body):
            found.append((path.format(**_PATH_VALUES), method.upper(), doc.body.model))
    return found


async def test_every_admin_body_is_parsed_with_the_model_it_documents(
    http: httpx.AsyncClient,
) -> None:
    """An unknown field is refused naming it, and `accepted:` lists exactly the documented
    model's fields: the handler parses with that model, not a second one."""
    bodies = _admin_bodies()
    assert len(bodies) >= 15
    for path, method, model in bodies:
        response = await http.request(method, path, json={"zz_unknown": 1}, headers=ADMIN)
        assert response.status_code == 400, (method, path, response.text)
        accepted = sorted(info.alias or name for name, info in model.model_fields.items())
        assert response.json()["error"] == {
            "code": "invalid_field",
            "message": f"unknown field(s) 'zz_unknown'; accepted: {', '.join(accepted)}",
        }, (method, path)


async def test_admin_queries_are_parsed_with_their_documented_model(
    http: httpx.AsyncClient,
) -> None:
    hook = await http.post("/admin/webhooks", json={"url": "http://8.8.8.8/tgw"}, headers=ADMIN)
    assert hook.status_code == 201, hook.text
    deliveries = f"/admin/webhooks/{hook.json()['id']}/deliveries"
    for params, says in [
        ({"limit": "x"}, "'limit' must be an integer"),
        ({"limit": "501"}, "'limit' must be between 1 and 500"),
        ({"before": "-1"}, "'before' must be between 0 and 4611686018427387904"),
        ({"status": "lost"}, "'status' must be one of pending, delivering, delivered, dead"),
    ]:
        response = await http.get(deliveries, params=params, headers=ADMIN)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == {"code": "invalid_field", "message": says}
    page = await http.get(deliveries, params={"limit": "", "status": "dead"}, headers=ADMIN)
    assert page.json() == {"data": [], "next_before": None}
