"""GET /openapi.json and GET /docs (app/routes/docs.py), on a tiny app that mounts only them.

Besides the shape of the document, these tests keep it in step with the real routes: every
route of the HTTP modules is described, and every described operation is routed.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import compile_path

from app.routes import (
    admin,
    admin_clients,
    alerts,
    callback_admin,
    cluster,
    console,
    conversations,
    docs,
    event_queues,
    event_stream,
    groups,
    health,
    media,
    message_actions,
    messages,
    onboarding,
    queue_control,
    reachability,
    webhooks,
    whatsmate,
    whatsmate_v1,
)
from app.routes.surface import endpoint_of
from app.services import Services
from tests.conftest import make_settings

# The console page and its files are HTML/CSS/JS, not API operations.
CONSOLE_PAGES = {"/admin", "/admin/", "/admin/static/{name:str}"}
V3_STATUSES = {"200", "400", "401", "404", "409", "413", "469", "470", "471", "472", "474"}
V3_STATUSES |= {"503"}  # the database is down or refuses writes
V3_STATUSES |= {"403"}  # the key lacks the send scope, or may not use the instance
METHODS = ("get", "put", "post", "delete", "patch")
EXPECTED_PATHS = [
    *(
        f"/v3/telegram/{scope}/{kind}/message/{{instance}}"
        for scope in ("single", "group")
        for kind in ("text", "image", "document", "audio", "voice_note")
    ),
    *(f"/v1/telegram/{shape}/message/{{instance}}" for shape in ("single", "batch", "group")),
    *(
        f"/v1/telegram/{shape}/{segment}/binary/{{instance}}"
        for shape in ("single", "batch")
        for segment in ("photo", "document", "audio")
    ),
    "/v1/telegram/single/location/{instance}",
    "/v1/telegram/batch/location/{instance}",
    "/v1/telegram/status/{instance}",
    "/api/v1/messages",
    "/api/v1/messages/{id}",
    "/api/v1/events",
    "/api/v1/events/stream",
    "/api/v1/recipients",
    "/admin/clients",
    "/admin/sandbox/{n}/inbound",
    "/admin/webhooks",
    "/admin/webhooks/{id}/deliveries",
    "/admin/deliveries/{id}/replay",
    "/media/{id}",
    "/healthz",
]


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=docs.routes)
    app.state.services = services
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as http:
        yield http


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    found: dict[str, Any] = response.json()
    return found


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def body_schema(document: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    return resolve(document, op["requestBody"]["content"]["application/json"]["schema"])


async def test_document_is_openapi_3_1_with_every_path(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    for path in EXPECTED_PATHS:
        assert path in document["paths"], path
    assert len([p for p in document["paths"] if p.startswith("/v3/")]) == 10


async def test_document_passes_the_openapi_validator(document: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)


async def test_every_ref_resolves_and_operation_ids_are_unique(document: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for target in set(refs):
        assert resolve(document, {"$ref": target}), target
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))


async def test_send_endpoints_list_every_status_of_the_spec(document: dict[str, Any]) -> None:
    v3 = [(p, op) for p, m, op in operations(document) if p.startswith("/v3/")]
    assert len(v3) == 10
    for path, op in v3:
        assert set(op["responses"]) == V3_STATUSES, path
        quota = resolve(document, op["responses"]["469"])
        assert "Retry-After" in quota["headers"], path
        outage = resolve(document, op["responses"]["503"])
        assert "Retry-After" in outage["headers"], path
        for status, answer in op["responses"].items():
            schema = resolve(document, answer)["content"]["application/json"]["schema"]
            expected = "Queued" if status == "200" else "WhatsmateError"
            assert schema == {"$ref": f"#/components/schemas/{expected}"}, (path, status)
    native = document["paths"]["/api/v1/messages"]["post"]["responses"]
    assert set(native) == (V3_STATUSES - {"200"}) | {"202"}


async def test_v1_sends_are_deprecated_and_answer_like_v3_in_the_v1_envelope(
    document: dict[str, Any],
) -> None:
    v1 = [(p, op) for p, m, op in operations(document) if p.startswith("/v1/")]
    assert len(v1) == 13  # 12 paths of the v1 era and the 2016 name of single/message
    for path, op in v1:
        assert op["tags"] == ["WhatsMate v1 (legacy)"], path
        if path == "/v1/telegram/status/{instance}":
            continue
        assert op["deprecated"] is True, path
        if path.endswith("/location/{instance}"):
            assert set(op["responses"]) == {"400", "401", "403", "474"}, path
            continue
        assert set(op["responses"]) == V3_STATUSES, path
        assert "Retry-After" in resolve(document, op["responses"]["469"])["headers"], path
        success = resolve(document, op["responses"]["200"])["content"]["application/json"]
        expected = "V1BatchQueued" if "/batch/" in path else "V1Queued"
        assert success["schema"] == {"$ref": f"#/components/schemas/{expected}"}, path
    batch = body_schema(
        document, document["paths"]["/v1/telegram/batch/message/{instance}"]["post"]
    )
    assert batch["required"] == ["numbers", "message"]
    assert batch["properties"]["numbers"]["maxItems"] == 1000
    group = body_schema(
        document, document["paths"]["/v1/telegram/group/message/{instance}"]["post"]
    )
    assert group["required"] == ["group", "message"]
    assert "group_admin" in group["properties"]
    document_body = body_schema(
        document, document["paths"]["/v1/telegram/single/document/binary/{instance}"]["post"]
    )
    assert document_body["required"] == ["number", "document", "filename"]


async def test_error_bodies_follow_the_surface(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["WhatsmateError"]["required"] == ["error_message"]
    assert schemas["NativeError"]["properties"]["error"]["required"] == ["code", "message"]
    for path, _, op in operations(document):
        for status, answer in op["responses"].items():
            if status.startswith("2") or path in ("/readyz",):
                continue
            schema = resolve(document, answer)["content"]["application/json"]["schema"]
            if path.startswith("/v1/") and path != "/v1/telegram/status/{instance}":
                expected = "V1Error"  # {"success": false, "status": "..."}
            elif path.startswith(("/v3/", "/v1/")):
                expected = "WhatsmateError"
            else:
                expected = "NativeError"
            assert schema == {"$ref": f"#/components/schemas/{expected}"}, (path, status)


async def test_request_bodies_carry_required_fields_and_limits(
    document: dict[str, Any], services: Services
) -> None:
    limits = services.settings.limits
    paths = document["paths"]
    text = body_schema(document, paths["/v3/telegram/single/text/message/{instance}"]["post"])
    assert text["required"] == ["number", "message"]
    assert text["properties"]["message"]["maxLength"] == limits.text_chars == 800
    image = body_schema(document, paths["/v3/telegram/single/image/message/{instance}"]["post"])
    assert image["required"] == ["number", "image"]
    assert image["properties"]["image"]["contentEncoding"] == "base64"
    assert image["properties"]["caption"]["maxLength"] == limits.caption_chars
    voice = body_schema(document, paths["/v3/telegram/group/voice_note/message/{instance}"]["post"])
    assert voice["required"] == ["group_name", "group_admin", "voice_note", "filename"]
    assert voice["properties"]["voice_note"]["format"] == "byte"
    native = document["paths"]["/api/v1/messages"]["post"]["requestBody"]["content"]
    assert set(native) == {"application/json", "multipart/form-data"}
    create = body_schema(document, paths["/admin/clients"]["post"])
    assert create["required"] == ["client_id"]
    inbound = body_schema(document, paths["/admin/sandbox/{n}/inbound"]["post"])
    assert inbound["properties"]["from"]["required"] == ["number"]


async def test_limits_and_server_come_from_the_settings(services: Services) -> None:
    settings = make_settings(
        services.settings.database.url,
        limits={"text_chars": 321, "caption_chars": 55, "image_bytes": 1000},
        server={"public_url": "https://gw.example.org/"},
    )
    built = docs.build_openapi(settings)
    assert built["servers"][0]["url"] == "https://gw.example.org"
    schemas = built["components"]["schemas"]
    assert schemas["GroupTextMessage"]["properties"]["message"]["maxLength"] == 321
    assert schemas["SingleDocumentMessage"]["properties"]["caption"]["maxLength"] == 55
    assert "1000 bytes" in schemas["SingleImageMessage"]["properties"]["image"]["description"]


async def test_servers_use_the_public_url(document: dict[str, Any], services: Services) -> None:
    assert document["servers"][0]["url"] == services.settings.public_url


async def test_security(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["WhatsmateClientId"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-WM-CLIENT-ID",
        "description": schemes["WhatsmateClientId"]["description"],
    }
    assert schemes["WhatsmateClientSecret"]["name"] == "X-WM-CLIENT-SECRET"
    assert schemes["AdminBearer"]["type"] == "http"
    assert schemes["AdminBearer"]["scheme"] == "bearer"
    both: list[dict[str, list[str]]] = [{"WhatsmateClientId": [], "WhatsmateClientSecret": []}]
    for path, _, op in operations(document):
        if path.startswith(("/v3/", "/v1/", "/api/v1/")):
            assert op["security"] == both, path
        elif path == "/admin/session":  # signing in to the console: the token is the body
            assert op["security"] == [], path
        elif path.startswith("/admin/"):
            assert op["security"] == [{"AdminBearer": []}], path
        else:
            assert op["security"] == [], path


async def test_idempotency_key_on_send_endpoints(document: dict[str, Any]) -> None:
    for path, method, op in operations(document):
        params = [resolve(document, p) for p in op.get("parameters", [])]
        names = {(p["in"], p["name"]) for p in params}
        v1_send = path.startswith("/v1/telegram/") and not path.endswith(
            ("/status/{instance}", "/location/{instance}")
        )
        sends = path.startswith("/v3/") or v1_send or (path, method) == ("/api/v1/messages", "post")
        # Editing, deleting and reacting are queued like sends, with the same key.
        sends = sends or (path, method) in ACTION_OPERATIONS
        assert (("header", "Idempotency-Key") in names) == sends, path
        for p in params:
            if p["in"] == "path":
                assert p["required"] is True
                assert "{" + p["name"] + "}" in path


ACTION_OPERATIONS = {
    ("/api/v1/messages/{id}", "patch"),
    ("/api/v1/messages/{id}", "delete"),
    ("/api/v1/messages/{id}/reactions", "post"),
}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_document_and_routes_agree(document: dict[str, Any]) -> None:
    """Every route is described, and every described operation reaches a route."""
    # Each route as its module declared it: the full path (the surfaces mount them under
    # their prefixes) and its methods.
    routes = [
        (compile_path(info.path)[0], info.path, set(info.methods))
        for module in (
            whatsmate,
            whatsmate_v1,
            messages,
            event_stream,
            message_actions,
            queue_control,
            admin_clients,
            conversations,
            event_queues,
            admin,
            callback_admin,
            cluster,
            alerts,
            groups,
            onboarding,
            reachability,
            webhooks,
            media,
            health,
            docs,
            console,
        )
        for r in module.routes
        if (info := endpoint_of(r)) is not None and info.path not in CONSOLE_PAGES
    ]
    assert routes
    documented = [(_concrete(p), m.upper()) for p, m, _ in operations(document)]
    for concrete, method in documented:
        hits = [r for r in routes if r[0].match(concrete) and method in r[2]]
        assert hits, f"{method} {concrete} is documented but not routed"
    for regex, path, methods in routes:
        for method in methods - {"HEAD"}:
            assert any(regex.match(c) and m == method for c, m in documented), (
                f"{method} {path} is routed but not documented"
            )


async def test_document_is_built_once_per_app(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = docs.build_openapi

    def counting(settings: Any) -> dict[str, Any]:
        calls.append(1)
        return real(settings)

    monkeypatch.setattr(docs, "build_openapi", counting)
    first = await client.get("/openapi.json")
    second = await client.get("/openapi.json")
    assert first.content == second.content
    assert len(calls) == 1


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


async def test_docs_page_is_self_contained(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert not re.search(r"https?://", page, re.IGNORECASE), "no external references"
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 1
    script = scripts[0]
    assert 'fetch("openapi.json"' in script
    assert "innerHTML" not in script and "document.write" not in script
    assert "textContent" in script
    style = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)[0]
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert f"script-src {_csp_hash(script)}" in csp
    assert f"style-src {_csp_hash(style)}" in csp
    assert "connect-src 'self'" in csp
    assert 'name="viewport"' in page


async def test_docs_page_fetch_resolves_to_openapi_json() -> None:
    # The page fetches the relative "openapi.json": from /docs that is /openapi.json.
    assert str(httpx.URL("http://tgw.test/docs").join("openapi.json")) == (
        "http://tgw.test/openapi.json"
    )
