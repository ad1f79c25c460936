"""A real HTTP webhook receiver for the end-to-end tests, written as a stranger would write
one: the standard library's HTTP server in a thread, verifying every request with the
`standardwebhooks` library."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    status: int  # what the receiver answered


@dataclass
class WebhookReceiver:
    """`fail_first`: answer 500 to the first N tries of each webhook-id; `hang_s`: sleep that
    long before answering (to catch the gateway mid-delivery)."""

    port: int
    secret: str
    fail_first: int = 0
    hang_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    bad_signatures: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = Webhook(receiver.secret).verify(raw, dict(self.headers.items()))
                except WebhookVerificationError as exc:
                    with receiver._lock:
                        receiver.bad_signatures.append(f"{exc}: {raw[:200]!r}")
                    self._answer(400)
                    return
                if receiver.hang_s:
                    time.sleep(receiver.hang_s)
                webhook_id = self.headers["webhook-id"]
                with receiver._lock:
                    tries = sum(1 for r in receiver.received if r.webhook_id == webhook_id)
                    status = 500 if tries < receiver.fail_first else 200
                    receiver.received.append(Received(webhook_id, body, status))
                self._answer(status)

            def _answer(self, status: int) -> None:
                payload = b"ok" if status == 200 else b"try again"
                # The gateway may be killed mid-request: its end of the socket is then gone.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def delivered(self) -> dict[str, Received]:
        """webhook-id -> its first 200-answered request."""
        with self._lock:
            found: dict[str, Received] = {}
            for r in self.received:
                if r.status == 200:
                    found.setdefault(r.webhook_id, r)
            return found

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)


@contextlib.contextmanager
def running(receiver: WebhookReceiver) -> Any:
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
