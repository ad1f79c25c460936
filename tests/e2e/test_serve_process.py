"""End to end: the real `tgw serve --sandbox` process, driven over HTTP.

Each test starts `python -m app serve --sandbox` as a subprocess on a free port, in a working
folder of its own, with a `tgw.toml` that names a fresh SQLite database and a known admin token.
The outer environment's TGW_* variables are not passed on, so a developer's own configuration
cannot leak in. Every process a test starts is killed in the fixture's teardown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest

from tests.waiting import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_LIMIT_S = 30.0
STOP_LIMIT_S = 10.0
CLIENT_ID = "ops@example.com"
PERSON = "34612345678"

T = TypeVar("T")


# --- small real media files -------------------------------------------------------------------


def make_png(width: int = 4, height: int = 3) -> bytes:
    """A real RGB PNG, built by hand (signature, IHDR, zlib-compressed IDAT, IEND)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + b"".join(bytes(((x * 60) % 256, (y * 80) % 256, 200)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def make_pdf(text: str = "tgw end-to-end") -> bytes:
    """A real one-page PDF 1.4 with a correct cross-reference table."""
    content = f"BT /F1 12 Tf 20 50 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)


# --- the server process -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def child_env() -> dict[str, str]:
    """The outer environment minus TGW_*; the repository first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGW_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    log_file: IO[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 4000) -> str:
        self.log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=STOP_LIMIT_S)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still alive after a bounded wait."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_LIMIT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=STOP_LIMIT_S)
        finally:
            self.log_file.close()


@dataclass
class ServeHarness:
    """Starts `tgw serve --sandbox` processes that share one working folder and database."""

    root: Path
    # False: `tgw serve` as configured (Telethon instances; tests/e2e/test_telethon_process.py).
    sandbox: bool = True
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The servers' umask (None: this process's), e.g. 0o022 to see which modes files get.
    umask: int | None = None
    # More arguments of `tgw serve` (e.g. ["--log-level", "debug"]).
    serve_args: list[str] = field(default_factory=list)
    processes: list[ServerProcess] = field(default_factory=list)
    _starts: Iterator[int] = field(default_factory=itertools.count)

    @property
    def db_path(self) -> Path:
        return self.root / "tgw.db"

    @property
    def config_path(self) -> Path:
        return self.root / "tgw.toml"

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def write_config(self, **sections: dict[str, Any]) -> None:
        tables: dict[str, dict[str, Any]] = {
            "database": {"url": f"sqlite:///{self.db_path}"},
            "security": {"admin_token": self.admin_token},
        }
        for name, values in sections.items():
            tables[name] = {**tables.get(name, {}), **values}
        lines: list[str] = []
        for name, values in tables.items():
            lines.append(f"[{name}]")
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
            lines.append("")
        self.config_path.write_text("\n".join(lines), encoding="utf-8")

    def spawn(self) -> ServerProcess:
        if not self.config_path.exists():
            self.write_config()
        port = free_port()
        log_path = self.root / f"serve-{next(self._starts)}.log"
        log_file = log_path.open("wb")
        command = [
            sys.executable, "-m", "app", "serve", *(["--sandbox"] if self.sandbox else []),
            "--config", str(self.config_path), "--port", str(port), *self.serve_args,
        ]  # fmt: skip
        try:
            proc = subprocess.Popen(
                command,
                cwd=self.root,
                env=child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                umask=-1 if self.umask is None else self.umask,
            )
        except BaseException:
            log_file.close()
            raise
        server = ServerProcess(proc, port, log_path, log_file)
        self.processes.append(server)
        return server

    async def start(self) -> ServerProcess:
        """Spawn a server and wait (bounded) until GET /healthz answers 200."""
        for _ in range(3):
            server = self.spawn()
            if await wait_healthy(server):
                return server
            if "address already in use" not in server.log_tail():
                break  # not a lost race for the port: a real failure
        raise AssertionError(f"tgw serve did not become healthy:\n{server.log_tail()}")

    def stop_all(self) -> None:
        errors: list[BaseException] = []
        for server in self.processes:
            try:
                server.stop()
            except BaseException as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise errors[0]


async def wait_healthy(server: ServerProcess) -> bool:
    """True once GET /healthz answers 200; False if the process exits first, or never does."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:

        async def outcome() -> str | None:
            if server.proc.poll() is not None:
                return "exited"
            with contextlib.suppress(httpx.TransportError):
                response = await client.get("/healthz")
                if response.status_code == 200 and response.json() == {"status": "ok"}:
                    return "healthy"
            return None

        try:
            found = await eventually(
                outcome, "GET /healthz to answer", timeout_s=STARTUP_LIMIT_S, interval_s=0.1
            )
        except AssertionError:
            return False
        return found == "healthy"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ServeHarness]:
    serve = ServeHarness(tmp_path)
    try:
        yield serve
    finally:
        serve.stop_all()


# --- helpers over HTTP ------------------------------------------------------------------------


async def create_client(http: httpx.AsyncClient, harness: ServeHarness) -> dict[str, str]:
    response = await http.post(
        "/admin/clients", json={"client_id": CLIENT_ID}, headers=harness.admin_headers
    )
    assert response.status_code == 201, response.text
    secret = response.json()["client_secret"]
    return {"X-WM-CLIENT-ID": CLIENT_ID, "X-WM-CLIENT-SECRET": secret}


async def sent_log(
    http: httpx.AsyncClient, harness: ServeHarness, number: str
) -> list[dict[str, Any]]:
    response = await http.get(
        "/admin/sandbox/1/sent", params={"number": number}, headers=harness.admin_headers
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


async def register(
    http: httpx.AsyncClient, harness: ServeHarness, number: str, greeting: str
) -> dict[str, Any]:
    """`number` says `greeting`; wait (≤10 s) for the gateway's confirmation; return it."""
    body = {"from": {"number": number, "first_name": "Ana"}, "text": greeting}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=harness.admin_headers)
    assert response.status_code == 200, response.text

    async def confirmation() -> dict[str, Any] | None:
        rows = await sent_log(http, harness, number)
        return rows[0] if rows else None

    return await eventually(
        confirmation, f"the registration reply to {number}", timeout_s=10.0, interval_s=0.1
    )


async def message_status(http: httpx.AsyncClient, api: dict[str, str], message_id: str) -> str:
    response = await http.get(f"/api/v1/messages/{message_id}", headers=api)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def instance_status(http: httpx.AsyncClient, harness: ServeHarness) -> str:
    response = await http.get("/admin/instances/1", headers=harness.admin_headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


# --- the tests --------------------------------------------------------------------------------


async def test_quickstart_walkthrough(harness: ServeHarness) -> None:
    server = await harness.start()
    png = make_png()
    pdf = make_pdf()
    assert pdf.startswith(b"%PDF-1.4")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        api = await create_client(http, harness)

        confirmation = await register(http, harness, PERSON, "¡Hola!")
        assert confirmation["kind"] == "text"
        assert "registrado" in confirmation["text"], confirmation  # Spanish, like the greeting

        sends = {
            "text": {"number": PERSON, "message": "Your order 1042 has shipped"},
            "image": {
                "number": PERSON,
                "image": base64.b64encode(png).decode(),
                "caption": "the parcel",
            },
            "document": {
                "number": PERSON,
                "document": base64.b64encode(pdf).decode(),
                "filename": "invoice-1042.pdf",
            },
        }
        ids: dict[str, str] = {}
        for kind, body in sends.items():
            response = await http.post(
                f"/v3/telegram/single/{kind}/message/1", json=body, headers=api
            )
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["status"] == "queued"
            ids[kind] = answer["id"]

        async def all_three() -> dict[str, dict[str, Any]] | None:
            found = {row["kind"]: row for row in (await sent_log(http, harness, PERSON))[1:]}
            return found if set(found) >= set(sends) else None

        delivered = await eventually(
            all_three,
            "the text, image and document in the sent log",
            timeout_s=10.0,
            interval_s=0.1,
        )
        assert delivered["text"]["text"] == "Your order 1042 has shipped"
        assert delivered["image"]["sha256"] == hashlib.sha256(png).hexdigest()
        assert delivered["image"]["size"] == len(png)
        assert delivered["image"]["caption"] == "the parcel"
        assert delivered["document"]["sha256"] == hashlib.sha256(pdf).hexdigest()
        assert delivered["document"]["size"] == len(pdf)
        assert delivered["document"]["filename"] == "invoice-1042.pdf"
        assert len(await sent_log(http, harness, PERSON)) == 4  # the reply and the three sends

        for kind, message_id in ids.items():
            assert await message_status(http, api, message_id) == "sent", kind


BURST = 500
BURST_CONCURRENCY = 20


async def test_kill_9_during_burst_loses_nothing_and_sends_once(harness: ServeHarness) -> None:
    harness.write_config(
        sending={"per_second": 0, "per_recipient_interval_s": 0},
        limits={"messages_per_day": 100_000},
    )
    server = await harness.start()
    accepted: dict[int, str] = {}  # burst index -> message id, only for 200 answers
    refused: list[tuple[int, int, str]] = []  # a non-200 answer is a bug, not a casualty
    lost: list[int] = []  # connection errors caused by the kill: not accepted
    killed = asyncio.Event()
    indexes = iter(range(BURST))

    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        api = await create_client(http, harness)
        await register(http, harness, PERSON, "Hi")

        async def sender() -> None:
            for i in indexes:  # shared: each index is taken by exactly one task
                body = {"number": PERSON, "message": f"burst-{i}"}
                try:
                    response = await http.post(
                        "/v3/telegram/single/text/message/1", json=body, headers=api
                    )
                except httpx.TransportError:
                    lost.append(i)
                    continue
                if response.status_code != 200:
                    refused.append((i, response.status_code, response.text))
                    continue
                accepted[i] = response.json()["id"]
                if len(accepted) >= BURST // 2 and not killed.is_set():
                    killed.set()
                    server.kill9()  # mid-burst: requests in flight, the worker mid-drain

        await asyncio.gather(*(sender() for _ in range(BURST_CONCURRENCY)))

    assert killed.is_set()
    assert server.proc.returncode == -signal.SIGKILL
    assert not refused, refused[:5]
    assert len(accepted) >= BURST // 2
    print(f"accepted {len(accepted)}, lost to the kill {len(lost)}")

    restarted = await harness.start()
    async with httpx.AsyncClient(base_url=restarted.base_url, timeout=10.0) as http:
        expected = {f"burst-{i}" for i in accepted}

        async def everything_sent() -> Counter[str] | None:
            texts = Counter(
                row["text"] for row in await sent_log(http, harness, PERSON)
                if (row["text"] or "").startswith("burst-")
            )  # fmt: skip
            return texts if expected <= set(texts) else None

        counts = await eventually(
            everything_sent, "every accepted message", timeout_s=60.0, interval_s=0.5
        )
        twice = {text: n for text, n in counts.items() if n != 1}
        assert not twice, f"sent more than once: {twice}"
        # Requests whose answer the kill cut off may or may not have been stored; if they were,
        # they too were sent at most once (checked above), but nothing counts on them.

        statuses: Counter[str] = Counter()
        retried = 0  # claimed before the kill and sent again (AlreadySent if it had gone out)
        for message_id in accepted.values():
            response = await http.get(f"/api/v1/messages/{message_id}", headers=api)
            assert response.status_code == 200, response.text
            statuses[response.json()["status"]] += 1
            retried += response.json()["attempts"] > 1
        assert statuses == {"sent": len(accepted)}, statuses
        print(f"claimed before the kill and claimed again after it: {retried}")


async def test_flood_wait_pauses_and_resumes_without_failures(harness: ServeHarness) -> None:
    """A FloodWait pauses the instance, which resumes by itself and sends everything.

    Telegram's FloodWaits are often 30 s or more; the injected one lasts 3 s to keep CI fast.
    """
    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as http:
        api = await create_client(http, harness)
        await register(http, harness, PERSON, "Hi")
        statuses_seen: list[str] = []

        async def watch() -> None:
            while True:
                statuses_seen.append(await instance_status(http, harness))
                await asyncio.sleep(0.05)  # a sampler of every status shown, not a wait

        fault = await http.post(
            "/admin/sandbox/1/faults", json={"flood_wait_s": 3}, headers=harness.admin_headers
        )
        assert fault.status_code == 201, fault.text
        watcher = asyncio.create_task(watch())
        try:
            started = time.monotonic()
            ids = []
            for i in range(20):
                response = await http.post(
                    "/v3/telegram/single/text/message/1",
                    json={"number": PERSON, "message": f"flood-{i}"},
                    headers=api,
                )
                assert response.status_code == 200, response.text
                ids.append(response.json()["id"])

            async def all_sent() -> list[str] | None:
                statuses = [await message_status(http, api, mid) for mid in ids]
                assert "failed" not in statuses, statuses
                return statuses if set(statuses) == {"sent"} else None

            remaining_s = 15.0 - (time.monotonic() - started)
            await eventually(
                all_sent, "all 20 messages to be sent", timeout_s=remaining_s, interval_s=0.2
            )
            await eventually(
                lambda: _ready_or_none(http, harness),
                "the instance to be ready again",
                timeout_s=2.0,
                interval_s=0.1,
            )
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

        assert "flood_wait" in statuses_seen, statuses_seen
        texts = Counter(
            row["text"] for row in await sent_log(http, harness, PERSON)
            if (row["text"] or "").startswith("flood-")
        )  # fmt: skip
        assert texts == {f"flood-{i}": 1 for i in range(20)}, texts


async def _ready_or_none(http: httpx.AsyncClient, harness: ServeHarness) -> str | None:
    status = await instance_status(http, harness)
    return status if status == "ready" else None
