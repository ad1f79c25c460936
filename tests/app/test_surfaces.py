"""Surfaces: every route belongs to one, and each answers in its own auth and error shape."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from app.errors import ApiError
from app.main import SURFACES, all_routes, create_app
from app.routes.surface import Surface, endpoint, endpoint_of, mounts, native_body
from app.routes.surfaces import ROOT
from app.services import Services
from tests.conftest import ADMIN

ROUTES_DIR = Path(__file__).resolve().parents[2] / "app" / "routes"
# The modules that define the surfaces themselves (auth and error shapes) and turn what
# validation refuses into the API's errors.
MECHANISM = {"surface.py", "surfaces.py", "common.py", "bodies.py", "send_bodies.py", "__init__.py"}
AUTH_CALLS = {"require_admin", "authenticate", "api_client", "current_session", "require_session"}


def test_every_route_belongs_to_a_surface() -> None:
    names = {s.name for s in SURFACES}
    for route in all_routes():
        info = endpoint_of(route)
        assert info is not None, route
        assert info.surface.name in names
        assert info.path.startswith(info.surface.prefix)


def _handlers_catching_api_error_or_authenticating() -> list[str]:
    found: list[str] = []
    for path in sorted(ROUTES_DIR.glob("*.py")):
        if path.name in MECHANISM:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                caught = ast.unparse(node.type)
                # Re-raising it unchanged (to let it pass a broader handler) is no handling.
                reraises = len(node.body) == 1 and isinstance(node.body[0], ast.Raise)
                if "ApiError" in caught and not reraises:
                    found.append(f"{path.name}:{node.lineno} catches {caught}")
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func).rsplit(".", 1)[-1]
                if name in AUTH_CALLS:
                    found.append(f"{path.name}:{node.lineno} calls {name}")
    return found


def test_handlers_neither_catch_api_errors_nor_authenticate() -> None:
    assert _handlers_catching_api_error_or_authenticating() == []


@pytest.mark.parametrize(
    ("method", "path", "shape"),
    [
        ("POST", "/v3/telegram/single/text/nowhere/1", "whatsmate"),
        ("GET", "/v3/anything", "whatsmate"),
        ("GET", "/v1/unknown/path", "whatsmate"),
        ("GET", "/api/v1/nowhere", "native"),
        ("GET", "/admin/nowhere", "native"),
        ("GET", "/media", "native"),
        ("GET", "/nowhere", "native"),
    ],
)
async def test_an_unknown_path_is_a_404_in_its_surfaces_shape(
    http: httpx.AsyncClient, method: str, path: str, shape: str
) -> None:
    response = await http.request(method, path)
    assert response.status_code == 404, response.text
    body = response.json()
    if shape == "whatsmate":
        assert body == {"error_message": f"No such endpoint: {method} {path}"}
    else:
        assert body["error"]["code"] == "not_found"
        assert path in body["error"]["message"]


async def test_a_wrong_method_is_a_405_in_its_surfaces_shape(http: httpx.AsyncClient) -> None:
    native = await http.post("/api/v1/events")
    assert native.status_code == 405
    assert native.json()["error"]["code"] == "method_not_allowed"
    whatsmate = await http.get("/v3/telegram/single/text/message/1")
    assert whatsmate.status_code == 405
    assert whatsmate.json() == {
        "error_message": "Method GET is not allowed on /v3/telegram/single/text/message/1"
    }


async def test_the_console_surface_leaves_other_admin_paths_to_the_admin_surface(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/admin/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    instances = await http.get("/admin/instances", headers=ADMIN)
    assert instances.status_code == 200
    refused = await http.get("/admin/instances")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"


async def test_auth_runs_before_the_handler_and_public_routes_skip_it(
    services: Services,
) -> None:
    calls: list[str] = []

    async def deny(request: Request) -> None:
        calls.append("auth")
        raise ApiError("unauthorized", "no")

    async def handler(request: Request) -> Response:
        calls.append("handler")
        return Response("ok")

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    guarded = Surface("guarded", "/g", native_body, auth=deny)
    routes = [
        endpoint(guarded, "/g/closed", handler),
        endpoint(guarded, "/g/open", handler, public=True),
        endpoint(guarded, "/g/broken", broken, public=True),
    ]
    app = create_app(services)
    app.router.routes[:] = [*mounts([guarded], routes), *app.router.routes]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as client:
        closed = await client.get("/g/closed")
        assert closed.status_code == 401
        assert calls == ["auth"]
        opened = await client.get("/g/open")
        assert opened.status_code == 200
        assert calls == ["auth", "handler"]
        failed = await client.get("/g/broken")
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "internal_error"
    assert "error_message" in failed.json()


def test_a_route_outside_its_surfaces_prefix_is_refused() -> None:
    async def handler(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="not under"):
        endpoint(Surface("x", "/x", native_body), "/y", handler)
    assert endpoint(ROOT, "/anything", handler) is not None


async def test_a_path_with_a_line_break_is_answered_in_its_surfaces_shape(
    http: httpx.AsyncClient,
) -> None:
    # A Mount's own pattern would not match across the line break: Starlette's plain 404.
    response = await http.get("/media/M%0AL?sig=x&exp=1")
    assert response.status_code in (403, 404), response.text
    assert "error" in response.json()
    nowhere = await http.get("/nowhere%0Aelse")
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["code"] == "not_found"
