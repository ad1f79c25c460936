"""End to end: `tgw serve --sandbox` and a receiver written like WhatsMate's enterprise demo
apps, which reads `number` and `message` from every POST and answers each by sending a message
to `number`. Such a receiver once made a runaway loop (each `message.sent` of our own reply
carried `number` too). Now one inbound message gets exactly one reply, and still one after the
queue has drained and a few more seconds of deliveries: for a standard endpoint with the
default subscription (every event) and for a whatsmate-format endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.e2e.test_serve_process import (
    PERSON,
    ServeHarness,
    create_client,
    free_port,
    harness,
    register,
    sent_log,
)
from tests.waiting import eventually

__all__ = ["harness"]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "wm-demo-token"
# How long deliveries go on after the queue has drained, to see that no loop starts.
QUIET_S = 4.0


@dataclass
class WhatsmateStyleReceiver:
    """The enterprise demo's logic: take `number` and `message` from the JSON body and answer
    with `POST /v1/telegram/single/message/{instance}` `{"number", "message"}`. It checks no
    type and no signature (the demos do not); the signature is checked here only to record it.
    """

    port: int
    gateway: str = ""  # the gateway's base URL, known once it runs
    headers: dict[str, str] = field(default_factory=dict)
    posts: list[dict[str, Any]] = field(default_factory=list)
    replies: list[tuple[str, int]] = field(default_factory=list)  # (path, status)
    bad_signatures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def reply(self, number: str, message: str) -> None:
        body = {"number": number, "message": f"You said: {message}"}
        with httpx.Client(base_url=self.gateway, headers=self.headers, timeout=10.0) as client:
            path = "/v1/telegram/single/message/1"
            answer = client.post(path, json=body)
        with self._lock:
            self.replies.append((path, answer.status_code))

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    Webhook(SECRET).verify(raw, dict(self.headers.items()))
                except WebhookVerificationError as exc:
                    with receiver._lock:
                        receiver.bad_signatures.append(str(exc))
                body = json.loads(raw)
                with receiver._lock:
                    receiver.posts.append(body)
                # Like the demos: whatever the POST is, a `number` gets an answer.
                number, message = body.get("number"), body.get("message")
                if number:
                    receiver.reply(number, str(message))
                payload = b"ok"
                self.send_response(200)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def configure(harness: ServeHarness, receiver: WhatsmateStyleReceiver, extra: str) -> None:
    harness.write_config(
        sending={"per_second": 0, "per_recipient_interval_s": 0},
        webhook_delivery={"allow_private_targets": True, "retry_schedule_s": [0.3], "timeout_s": 5},
    )
    with harness.config_path.open("a", encoding="utf-8") as config:
        config.write(f'\n[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n{extra}')


async def drained(http: httpx.AsyncClient, harness: ServeHarness) -> bool | None:
    """Every delivery of the endpoint is done (none pending or in flight)."""
    [endpoint] = (await http.get("/admin/webhooks", headers=harness.admin_headers)).json()["data"]
    counts = endpoint["deliveries"]
    return True if counts["pending"] == 0 and counts["delivering"] == 0 else None


async def our_replies(http: httpx.AsyncClient, harness: ServeHarness) -> list[str]:
    rows = await sent_log(http, harness, PERSON)
    return [r["text"] for r in rows if (r["text"] or "").startswith("You said: ")]


@pytest.mark.parametrize(
    ("extra", "format_"),
    [
        ("", "standard"),  # no `events`: the default subscription, every event
        (f'format = "whatsmate"\ntoken = "{TOKEN}"\n', "whatsmate"),
    ],
    ids=["standard-all-events", "whatsmate"],
)
async def test_one_inbound_message_gets_exactly_one_reply(
    harness: ServeHarness, extra: str, format_: str
) -> None:
    receiver = WhatsmateStyleReceiver(free_port())
    configure(harness, receiver, extra)
    with receiver.running():
        server = await harness.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
            receiver.gateway = server.base_url
            receiver.headers = await create_client(http, harness)
            await register(http, harness, PERSON, "Hi")
            await eventually(
                lambda: drained(http, harness),
                "the registration's deliveries",
                timeout_s=15.0,
                interval_s=0.1,
            )
            body = {"from": {"number": PERSON, "first_name": "Ana"}, "text": "hello"}
            answer = await http.post(
                "/admin/sandbox/1/inbound", json=body, headers=harness.admin_headers
            )
            assert answer.status_code == 200, answer.text

            async def replied() -> list[str] | None:
                return await our_replies(http, harness) or None

            await eventually(replied, "the receiver's reply", timeout_s=15.0, interval_s=0.1)
            await eventually(
                lambda: drained(http, harness), "the queue to drain", timeout_s=15.0, interval_s=0.1
            )
            # A fixed quiet time is the point: deliveries go on, and a reply loop would show here.
            await asyncio.sleep(QUIET_S)
            await eventually(
                lambda: drained(http, harness),
                "the queue to drain again",
                timeout_s=15.0,
                interval_s=0.1,
            )
            assert await our_replies(http, harness) == ["You said: hello"]
            [endpoint] = (await http.get("/admin/webhooks", headers=harness.admin_headers)).json()[
                "data"
            ]
    assert endpoint["format"] == format_
    assert not receiver.bad_signatures, receiver.bad_signatures
    assert [status for _, status in receiver.replies] == [200]
    if format_ == "whatsmate":
        [post] = receiver.posts  # the registration and our own reply never came
        assert post == {
            "token": TOKEN,
            "type": "individual",
            "instance_id": "1",
            "gateway_number": post["gateway_number"],
            "number": PERSON,
            "message": "hello",
        }
        assert post["gateway_number"]
    else:
        types = [p["type"] for p in receiver.posts]
        # Offered every event, our own reply included; only the received message had a number.
        assert {"recipient.registered", "message.received", "message.sent"} <= set(types), types
        assert [p["type"] for p in receiver.posts if "number" in p] == ["message.received"]
