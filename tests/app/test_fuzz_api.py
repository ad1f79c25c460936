"""Schemathesis against /openapi.json: no input gives a 5xx, and every answer is documented.

Every operation of the document is fuzzed on the in-process app, with valid and invalid
inputs, under both kinds of auth (a real API client's X-WM-CLIENT-* headers, the admin
Bearer token). Each answer must not be a 5xx, and its status, content type and body must be
what the document says. The instances are sandbox instances, so logins, sends and @SpamBot
checks stay inside the gateway; webhook and media targets resolve to a public address that no
delivery reaches (the delivery worker does not run) and no media fetch connects to.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import Receive, Scope, Send

from app import clients
from app.cluster.ownership import start_instances
from app.main import create_app
from app.services import Services, build_services
from tests.app.net.origin import RoutedNetwork
from tests.conftest import ADMIN_TOKEN, Clock, make_settings
from tests.inbound.webhooks.helpers import public_dns

CLIENT_ID = "fuzz@example.com"
# Per operation: small enough that a run over every operation takes about two minutes on two
# shared cores. TGW_FUZZ_EXAMPLES raises it for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("TGW_FUZZ_EXAMPLES", "40"))


class FuzzedGateway:
    """The gateway, built inside the event loop that serves it.

    Schemathesis runs an ASGI app on an event-loop thread of its own, and a database pool
    belongs to the loop that opened it: so the services are built on the lifespan's startup,
    in that loop, not in the test's.
    """

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.services: Services | None = None
        self.client_secret = ""
        self._app: Any = None

    async def _start(self) -> None:
        settings = make_settings(
            self.db_url,
            instances=[
                {"number": 1, "backend": "sandbox"},
                {"number": 2, "backend": "sandbox"},
            ],
            # The event stream is answered whole in-process: every stream ends after 0.2 s
            # (its `event: end`, reason max_connection_s), so fuzzing it cannot hang; with a
            # short heartbeat each one also carries heartbeats.
            event_stream={"max_connection_s": 0.2, "heartbeat_s": 0.05},
        )
        svc = build_services(settings, ADMIN_TOKEN, clock=Clock(), run_workers=False)
        svc.resolve_host = public_dns
        # A fuzzed media.url is checked and resolved, but no connection leaves the test.
        svc.network = RoutedNetwork(to_local=())
        self.services = svc
        self._app = create_app(svc)
        await start_instances(svc, workers=False)
        async with svc.database.write() as session:
            _, self.client_secret = await clients.create_client(
                session, CLIENT_ID, None, svc.clock()
            )

    async def _stop(self) -> None:
        if self.services is None:
            return
        for backend in self.services.telegram.backends.values():
            await backend.stop()
        await self.services.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture
def gateway(schema: str) -> Iterator[FuzzedGateway]:
    app = FuzzedGateway(schema)
    try:
        yield app
    finally:
        # Schemathesis keeps an ASGI app's lifespan running until the process exits: stop it
        # (and so the app's database pool) before the test's schema is dropped.
        schemathesis_asgi.shutdown_lifespans()


@pytest.fixture
def api_schema(gateway: FuzzedGateway) -> Any:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", gateway)
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
    )
    return loaded


lazy_schema = schemathesis.pytest.from_fixture("api_schema")

CHECKED: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def auth_headers(path: str, gateway: FuzzedGateway) -> dict[str, str]:
    """Valid credentials for the operation's surface, over whatever the case generated: the
    fuzzed input should reach the handler, not stop at the auth check (which has its own
    tests)."""
    if path.startswith("/admin"):
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return {"X-WM-CLIENT-ID": CLIENT_ID, "X-WM-CLIENT-SECRET": gateway.client_secret}


@lazy_schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,  # a sandbox inbound waits for the gateway to handle it
    # Large bodies and many filtered examples are what fuzzing an API looks like.
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_input_gives_a_server_error_and_every_answer_is_documented(
    case: Any, gateway: FuzzedGateway
) -> None:
    response = case.call(headers=auth_headers(case.path, gateway))
    case.validate_response(response, checks=CHECKED)
