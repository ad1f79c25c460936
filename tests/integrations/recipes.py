"""Shared pieces of the recipe tests: a recipe's code loaded from docs/integrations/, and one
HTTP transport that reaches several in-process apps by host name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
from starlette.types import ASGIApp

RECIPES = Path(__file__).resolve().parents[2] / "docs" / "integrations"


def load_recipe(name: str) -> ModuleType:
    """docs/integrations/<name>.py as a module (the recipes are not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


class Hosts(httpx.AsyncBaseTransport):
    """Requests to http://<host>/... go to that host's ASGI app; an unknown host is refused
    as a network error (as an unreachable server would be)."""

    def __init__(self, apps: dict[str, ASGIApp]) -> None:
        self.transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        return await transport.handle_async_request(request)
