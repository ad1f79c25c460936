"""End to end: slow and stalled clients against the real `tgw serve --sandbox` process.

Raw sockets stand for the clients (a slow client is exactly what an HTTP library will not be),
with timeouts of a second or so in `[server]`, so each test takes a few seconds. Bounds are
generous upwards (the machine is shared) and tight downwards: a cut-off never comes early.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve_process import CLIENT_ID, ServeHarness, ServerProcess
from tests.waiting import eventually_sync

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 3.0
MIN_RATE = 100  # bytes/s
MIN_RATE_AFTER_S = 1.0
KEEP_ALIVE_S = 1
SLACK_S = 2.0  # how late a cut-off may come on a busy machine
EARLY_S = 0.1  # timers of the event loop may fire this much before the hour


@dataclass
class Gateway:
    server: ServerProcess
    admin_token: str
    client_secret: str

    @property
    def port(self) -> int:
        return self.server.port


def _start(root: Path, **server: object) -> tuple[ServeHarness, ServerProcess]:
    harness = ServeHarness(root)
    harness.write_config(server=server)
    return harness, asyncio.run(harness.start())


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    harness, server = _start(
        tmp_path_factory.mktemp("slow-clients"),
        header_timeout_s=HEADER_TIMEOUT_S,
        body_timeout_s=BODY_TIMEOUT_S,
        min_body_rate_bytes_s=MIN_RATE,
        min_body_rate_after_s=MIN_RATE_AFTER_S,
        keep_alive_timeout_s=KEEP_ALIVE_S,
    )
    try:
        created = httpx.post(
            f"{server.base_url}/admin/clients",
            json={"client_id": CLIENT_ID},
            headers=harness.admin_headers,
        )
        assert created.status_code == 201, created.text
        yield Gateway(server, harness.admin_token, created.json()["client_secret"])
    finally:
        harness.stop_all()


# --- a client as slow as a test wants ---------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def send_slowly(
    sock: socket.socket, pieces: Iterable[bytes], every_s: float, within_s: float = 15.0
) -> None:
    """Send `pieces` one by one, `every_s` apart, until the server answers (or has closed);
    fail if it has not after `within_s`."""
    give_up = time.monotonic() + within_s
    for piece in pieces:
        if time.monotonic() > give_up:
            raise AssertionError(f"still sending after {within_s} s: the server never cut it")
        try:
            sock.sendall(piece)
        except OSError:
            return  # closed by the server: its answer is read next
        readable, _, _ = select.select([sock], [], [], every_s)
        if readable:
            return


def read_answer(sock: socket.socket) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer (got {data!r})"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    size = int(headers.get("content-length", "0"))
    while len(body) < size:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of the answer"
        body += chunk
    return Answer(int(status_line.split()[1]), headers, body)


def wait_closed(sock: socket.socket, within_s: float) -> None:
    """The server closes the connection within `within_s` (nothing more is sent on it)."""
    sock.settimeout(within_s)
    try:
        rest = sock.recv(65536)
    except ConnectionResetError:
        return
    except TimeoutError as exc:
        raise AssertionError(f"the connection is still open after {within_s} s") from exc
    assert rest == b"", f"more after the answer: {rest!r}"


def post_head(path: str, length: int, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: tgw", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def whatsmate_head(gateway: Gateway, length: int) -> bytes:
    return post_head(
        "/v3/telegram/single/text/message/1",
        length,
        X_WM_CLIENT_ID=CLIENT_ID,
        X_WM_CLIENT_SECRET=gateway.client_secret,
    )


def admin_head(gateway: Gateway, length: int) -> bytes:
    return post_head("/admin/clients", length, Authorization=f"Bearer {gateway.admin_token}")


def assert_took(started: float, at_least_s: float) -> None:
    took = time.monotonic() - started
    assert at_least_s - EARLY_S <= took <= at_least_s + SLACK_S, took


# --- headers ----------------------------------------------------------------------------------


def test_headers_that_stall_get_408_and_the_connection_is_closed(gateway: Gateway) -> None:
    with connect(gateway.port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: tgw\r\n")
        answer = read_answer(sock)
        assert_took(started, HEADER_TIMEOUT_S)
        assert answer.status == 408
        assert answer.headers["connection"] == "close"
        assert answer.json() == {
            "error": {
                "code": "request_timeout",
                "message": "The request headers did not arrive within 1 s",
            }
        }
        wait_closed(sock, 1.0)


def test_headers_sent_a_byte_at_a_time_are_cut_at_the_header_timeout(gateway: Gateway) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: tgw\r\nX-Padding: " + b"x" * 200 + b"\r\n\r\n"
    with connect(gateway.port) as sock:
        started = time.monotonic()
        send_slowly(sock, (bytes([b]) for b in request), every_s=0.1)
        answer = read_answer(sock)
        assert_took(started, HEADER_TIMEOUT_S)
        assert answer.status == 408
        wait_closed(sock, 1.0)


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    gateway: Gateway,
) -> None:
    with connect(gateway.port) as sock:
        started = time.monotonic()
        assert read_answer(sock).status == 408
        assert_took(started, HEADER_TIMEOUT_S)
        wait_closed(sock, 1.0)


# --- bodies -----------------------------------------------------------------------------------


def test_a_body_trickled_at_one_byte_a_second_gets_408_in_the_whatsmate_shape(
    gateway: Gateway,
) -> None:
    body = json.dumps({"number": "34612345678", "message": "x" * 980}).encode()
    body += b" " * (1043 - len(body))
    with connect(gateway.port) as sock:
        sock.sendall(whatsmate_head(gateway, len(body)))
        started = time.monotonic()
        send_slowly(sock, (bytes([b]) for b in body), every_s=1.0)
        answer = read_answer(sock)
        # Cut once the first second is over: 1 byte, where 100 bytes/s were due.
        assert_took(started, MIN_RATE_AFTER_S)
        assert answer.status == 408
        assert answer.headers["connection"] == "close"
        message = answer.json()
        assert isinstance(message, dict) and set(message) == {"error_message"}
        assert "did not arrive in time" in message["error_message"]
        wait_closed(sock, 1.0)


def test_a_stalled_body_gets_408_and_the_connection_is_closed(gateway: Gateway) -> None:
    with connect(gateway.port) as sock:
        started = time.monotonic()
        sock.sendall(admin_head(gateway, 100) + b'{"client_id": ')
        answer = read_answer(sock)
        assert_took(started, MIN_RATE_AFTER_S)
        assert answer.status == 408
        assert answer.json() == {
            "error": {
                "code": "request_timeout",
                "message": "The request body did not arrive in time (within 3 s, and at 100"
                " bytes/s or more after the first 1 s); nothing was accepted",
            }
        }
        wait_closed(sock, 1.0)


def test_a_body_above_the_minimum_rate_is_still_cut_at_the_body_timeout(
    gateway: Gateway,
) -> None:
    size = 20_000  # at 2,000 bytes/s it would take 10 s
    with connect(gateway.port) as sock:
        sock.sendall(admin_head(gateway, size))
        started = time.monotonic()
        send_slowly(sock, (b" " * 200 for _ in range(size // 200)), every_s=0.1)
        answer = read_answer(sock)
        assert_took(started, BODY_TIMEOUT_S)
        assert answer.status == 408
        wait_closed(sock, 1.0)


def test_a_slow_body_that_keeps_the_minimum_rate_is_accepted(gateway: Gateway) -> None:
    body = json.dumps({"client_id": "slow@example.com"}).encode().ljust(450)
    with connect(gateway.port) as sock:
        sock.sendall(admin_head(gateway, len(body)))
        started = time.monotonic()
        # 30 bytes every 0.1 s: 300 bytes/s for 1.5 s, past the first second.
        send_slowly(sock, (body[i : i + 30] for i in range(0, len(body), 30)), every_s=0.1)
        answer = read_answer(sock)
        assert time.monotonic() - started >= 1.2
        assert answer.status == 201, answer.body
        assert answer.json()["client_id"] == "slow@example.com"  # type: ignore[index]


# --- the connection ---------------------------------------------------------------------------


def test_requests_on_a_kept_alive_connection_work_and_an_idle_one_is_closed(
    gateway: Gateway,
) -> None:
    with connect(gateway.port) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: tgw\r\n\r\n")
            answer = read_answer(sock)
            assert (answer.status, answer.json()) == (200, {"status": "ok"})
        started = time.monotonic()
        wait_closed(sock, KEEP_ALIVE_S + SLACK_S)
        assert time.monotonic() - started >= KEEP_ALIVE_S - EARLY_S


def test_past_max_connections_a_request_gets_503(tmp_path: Path) -> None:
    harness, server = _start(tmp_path, max_connections=3, header_timeout_s=30)
    try:
        idle = [connect(server.port) for _ in range(3)]

        def refused() -> bool:
            # Until the server (not just the kernel) has accepted the idle three, one more
            # connection is still let in.
            with connect(server.port) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: tgw\r\n\r\n")
                assert read_answer(extra).status == 503
                wait_closed(extra, 2.0)
            return True

        eventually_sync(refused, "a connection past max_connections to get 503", timeout_s=10)
        idle.pop().close()

        def answered() -> bool:
            with connect(server.port) as again:
                again.sendall(b"GET /healthz HTTP/1.1\r\nHost: tgw\r\n\r\n")
                assert read_answer(again).status == 200
            return True

        eventually_sync(answered, "a connection to be served again", timeout_s=10)
        for sock in idle:
            sock.close()
    finally:
        harness.stop_all()
