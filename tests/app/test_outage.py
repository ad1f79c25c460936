"""Database outages, answered honestly: 503 with Retry-After (never a 500), nothing accepted that
is not on disk, and recovery without a restart, the first request after it included.

Every failure is real: a SQLite file on a small tmpfs that is filled up (the tests mount one, as
root, and skip when mounting is not allowed), a database file made immutable (chattr +i, so
that even root opens it read-only), another connection holding SQLite's write lock, and a
private PostgreSQL cluster (tests/e2e/private_postgres.py) that is stopped and restarted. The
app runs in-process through httpx.ASGITransport; workers are driven by the tests unless said.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlmodel import SQLModel

from app.cluster.ownership import make_worker, start_instances
from app.db import create_engine, database_unavailable
from app.main import create_app
from app.models import ApiClient, table_of, utcnow
from app.services import Services, build_services
from app.telegram.port import Update
from app.telegram.sandbox import InboundPerson, SandboxTelegram
from inbound.processor import InboundProcessor
from tests.conftest import ADMIN, ADMIN_TOKEN, make_settings, say
from tests.e2e.private_postgres import PrivatePostgres
from tests.waiting import eventually

NUMBER = "34612345678"
TEXT = "/v3/telegram/single/text/message/1"
MESSAGES = "/api/v1/messages"
LOCK_WAIT_S = 0.3  # the bound past which a write waits for another process's lock
WITHIN_S = 10.0  # every wait below is bounded by this


# --- a gateway in-process -----------------------------------------------------------------------


@dataclass
class Gateway:
    services: Services
    http: httpx.AsyncClient
    api: dict[str, str]  # headers of an API client

    async def send(self, text: str = "hello") -> httpx.Response:
        return await self.http.post(
            TEXT, json={"number": NUMBER, "message": text}, headers=self.api
        )

    async def native_send(self, text: str = "hello") -> httpx.Response:
        body = {"instance": 1, "to": NUMBER, "text": text}
        return await self.http.post(MESSAGES, json=body, headers=self.api)

    async def stored_count(self) -> int:
        response = await self.http.get(MESSAGES, params={"limit": 500}, headers=self.api)
        assert response.status_code == 200, response.text
        return len(response.json()["data"])


@contextlib.asynccontextmanager
async def gateway(db_url: str, *, register: bool = True, **build: Any) -> AsyncIterator[Gateway]:
    """The app on `db_url` (tables created), an API client, and NUMBER registered."""
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    await engine.dispose()
    svc = build_services(make_settings(db_url), ADMIN_TOKEN, run_workers=False, **build)
    app = create_app(svc)
    try:
        await start_instances(svc, workers=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as http:
            created = await http.post(
                "/admin/clients", json={"client_id": "ops@example.com"}, headers=ADMIN
            )
            assert created.status_code == 201, created.text
            api = {
                "X-WM-CLIENT-ID": "ops@example.com",
                "X-WM-CLIENT-SECRET": created.json()["client_secret"],
            }
            if register:
                await say(http, NUMBER, "Hi", phone_visible=True)
            yield Gateway(svc, http, api)
    finally:
        for backend in svc.telegram.backends.values():
            await backend.stop()
        await svc.close()


def assert_whatsmate_503(response: httpx.Response, says: str) -> str:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert list(body) == ["error_message"], body
    message: str = body["error_message"]
    assert says in message and "nothing was accepted" in message, message
    return message


def assert_native_503(response: httpx.Response, reason: str) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert list(body) == ["error"], body
    error: dict[str, Any] = body["error"]
    assert error["code"] == "database_unavailable" and error["reason"] == reason, body
    assert error["message"], body
    return error


# --- a small disk (SQLite on a real tmpfs) ------------------------------------------------------


@dataclass
class SmallDisk:
    root: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.root}/tgw.db"

    @property
    def filler(self) -> Path:
        return self.root / "filler"

    def free(self) -> int:
        stats = os.statvfs(self.root)
        return stats.f_bavail * stats.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Take all the free space but `leave` bytes (unbuffered writes, so nothing is pending
        when the disk refuses). The WAL is emptied first, so that the gateway has no room of
        its own to give back."""
        with contextlib.closing(sqlite3.connect(self.root / "tgw.db", timeout=5)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while self.free() > leave:
                chunk = min(64 * 1024, self.free() - leave)
                try:
                    os.write(fd, b"\0" * max(chunk, 1))
                except OSError:
                    break
        finally:
            os.close(fd)

    def clear(self) -> None:
        self.filler.unlink(missing_ok=True)

    def wal_size(self) -> int:
        wal = self.root / "tgw.db-wal"
        return wal.stat().st_size if wal.exists() else 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """An 8 MiB tmpfs (mounted for the test, unmounted after it) for a SQLite database."""
    root = tmp_path / "disk"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(root)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield SmallDisk(root)
    finally:
        done = subprocess.run(["umount", str(root)], capture_output=True, timeout=30, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=30)


async def test_a_send_on_a_full_disk_answers_503_with_retry_after_saying_the_disk_is_full(
    small_disk: SmallDisk,
) -> None:
    async with gateway(small_disk.url) as gw:
        small_disk.fill()
        assert_whatsmate_503(await gw.send(), "The database's disk is full")


async def test_a_native_send_on_a_full_disk_answers_503_database_unavailable(
    small_disk: SmallDisk,
) -> None:
    async with gateway(small_disk.url) as gw:
        small_disk.fill()
        error = assert_native_503(await gw.native_send(), "disk_full")
        assert "disk is full" in error["message"]


async def test_an_admin_write_on_a_full_disk_answers_503_in_the_native_shape(
    small_disk: SmallDisk,
) -> None:
    async with gateway(small_disk.url) as gw:
        small_disk.fill()
        response = await gw.http.post(
            "/admin/clients", json={"client_id": "other@example.com"}, headers=ADMIN
        )
        assert_native_503(response, "disk_full")


async def test_reads_still_answer_while_the_disk_is_full(small_disk: SmallDisk) -> None:
    async with gateway(small_disk.url) as gw:
        accepted = (await gw.send("before")).json()["id"]
        small_disk.fill()
        assert (await gw.send()).status_code == 503
        response = await gw.http.get(f"{MESSAGES}/{accepted}", headers=gw.api)
        assert response.status_code == 200 and response.json()["status"] == "queued"


async def test_a_send_refused_for_a_full_disk_is_not_stored(small_disk: SmallDisk) -> None:
    async with gateway(small_disk.url) as gw:
        assert (await gw.send("accepted")).status_code == 200
        small_disk.fill()
        assert (await gw.send("refused")).status_code == 503
        small_disk.clear()
        assert await gw.stored_count() == 1


async def test_the_first_send_after_space_is_freed_is_accepted(small_disk: SmallDisk) -> None:
    async with gateway(small_disk.url) as gw:
        small_disk.fill()
        for _ in range(3):
            assert (await gw.send("refused")).status_code == 503
        small_disk.clear()
        response = await gw.send("after")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "queued"


async def test_readyz_is_503_while_writes_are_refused_for_a_full_disk_and_200_once_freed(
    small_disk: SmallDisk,
) -> None:
    async with gateway(small_disk.url) as gw:
        small_disk.fill()
        assert (await gw.send()).status_code == 503
        ready = await gw.http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["database"] == "disk_full" and "disk is full" in ready.json()["message"]
        assert int(ready.headers["retry-after"]) > 0
        small_disk.clear()
        ready = await gw.http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "database": "ok"}


async def test_sends_refused_for_a_full_disk_count_in_the_refused_metric(
    small_disk: SmallDisk,
) -> None:
    async with gateway(small_disk.url) as gw:
        small_disk.fill()
        assert (await gw.send()).status_code == 503
        assert (await gw.native_send()).status_code == 503
        metrics = (await gw.http.get("/metrics")).text
        assert 'tgw_requests_refused_total{status="503"} 2.0' in metrics


async def test_sends_go_on_being_accepted_when_the_wal_outgrows_the_free_space(
    small_disk: SmallDisk,
) -> None:
    """The cause of the gateway staying stuck after a full disk: nothing here checkpoints (as
    under a steady stream of writes, where the background checkpoint never catches up), so the
    WAL would grow into all the free space, and then neither a write nor the copy of the WAL
    into the database could ever succeed. The WAL is emptied first instead."""
    async with gateway(small_disk.url) as gw:
        small_disk.fill(leave=1024 * 1024)
        for i in range(150):  # some 3 MiB of WAL
            response = await gw.send(f"m{i}")
            assert response.status_code == 200, (i, response.text)
            assert small_disk.wal_size() <= small_disk.free() + 256 * 1024, i
        assert await gw.stored_count() == 150


# --- a read-only database file ------------------------------------------------------------------


def chattr(flag: str, path: Path) -> None:
    done = subprocess.run(
        ["chattr", flag, str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {done.stderr.strip()}")


@pytest.fixture
def read_only_db(tmp_path: Path) -> Iterator[Path]:
    """A SQLite file that the test makes immutable (`chattr +i`: read-only even for root, which
    ignores file modes) once it is set up; made mutable again after the test."""
    path = tmp_path / "tgw.db"
    try:
        yield path
    finally:
        if path.exists():
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, timeout=30)


@contextlib.asynccontextmanager
async def read_only_gateway(path: Path) -> AsyncIterator[Gateway]:
    """A gateway set up on `path`, then restarted with the file immutable."""
    url = f"sqlite:///{path}"
    async with gateway(url) as gw:
        api = gw.api
    chattr("+i", path)
    svc = build_services(make_settings(url), ADMIN_TOKEN, run_workers=False)
    app = create_app(svc)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as http:
            yield Gateway(svc, http, api)
    finally:
        await svc.close()


async def test_a_send_to_a_read_only_database_answers_503_saying_it_is_read_only(
    read_only_db: Path,
) -> None:
    async with read_only_gateway(read_only_db) as gw:
        assert_whatsmate_503(await gw.send(), "The database is read-only")


async def test_the_first_send_once_the_database_is_writable_again_is_accepted(
    read_only_db: Path,
) -> None:
    async with read_only_gateway(read_only_db) as gw:
        assert (await gw.send("refused")).status_code == 503
        assert (await gw.native_send("refused")).status_code == 503
        chattr("-i", read_only_db)
        response = await gw.send("after")
        assert response.status_code == 200, response.text
        assert await gw.stored_count() == 1


# --- another process holds SQLite's write lock --------------------------------------------------


class ForeignLock:
    """Another connection to the file (as another process would have) and its write lock."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=5)

    def take(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


@contextlib.contextmanager
def foreign_write_lock(path: Path) -> Iterator[ForeignLock]:
    """Another process takes SQLite's write lock, and keeps it for the block."""
    lock = ForeignLock(path)
    try:
        lock.take()
        yield lock
    finally:
        lock.release()
        lock.conn.close()


async def test_a_send_while_another_process_holds_the_write_lock_answers_503_locked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tgw.db"
    async with gateway(f"sqlite:///{path}", sqlite_lock_wait_s=LOCK_WAIT_S) as gw:
        with foreign_write_lock(path):
            message = assert_whatsmate_503(await gw.send(), "The database is locked")
        assert f"{LOCK_WAIT_S:g} s" in message


async def test_while_the_lock_stays_held_later_sends_are_refused_without_waiting_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tgw.db"
    async with gateway(f"sqlite:///{path}", sqlite_lock_wait_s=LOCK_WAIT_S) as gw:
        with foreign_write_lock(path):
            assert (await gw.send()).status_code == 503
            started = time.monotonic()
            assert (await gw.send()).status_code == 503
            assert time.monotonic() - started < LOCK_WAIT_S


async def test_the_first_send_after_the_other_process_lets_go_is_accepted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tgw.db"
    async with gateway(f"sqlite:///{path}", sqlite_lock_wait_s=LOCK_WAIT_S) as gw:
        with foreign_write_lock(path):
            assert (await gw.send()).status_code == 503
            assert (await gw.send()).status_code == 503
        response = await gw.send("after")
        assert response.status_code == 200, response.text


class LockingProcessor:
    """The real inbound processor; another process takes the write lock as the first update
    arrives. Counts the tries that failed for it."""

    def __init__(self, processor: InboundProcessor, lock: ForeignLock) -> None:
        self.processor = processor
        self.lock = lock
        self.outages = 0

    async def __call__(self, updates: Sequence[Update]) -> None:
        if not self.lock.conn.in_transaction and self.outages == 0:
            self.lock.take()
        try:
            await self.processor(updates)
        except Exception as exc:
            if database_unavailable(exc) is not None:
                self.outages += 1
            raise


class CountingRunner:
    """The real SqlRunner, counting the units of work refused for an outage."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.outages = 0

    async def run(self, work: Any) -> Any:
        try:
            return await self.runner.run(work)
        except Exception as exc:
            if database_unavailable(exc) is not None:
                self.outages += 1
            raise


async def test_a_greeting_received_during_an_outage_is_handled_afterwards_not_skipped(
    tmp_path: Path,
) -> None:
    """An update that fails five times is skipped (a bug must not block the stream); an outage
    is no such failure, however long it lasts."""
    path = tmp_path / "tgw.db"
    async with gateway(f"sqlite:///{path}", register=False, sqlite_lock_wait_s=0.05) as gw:
        svc = gw.services
        await svc.telegram.backends[1].stop()  # this test runs a pump of its own, polling fast
        runner = CountingRunner(svc.database.background_sql)
        database = dataclasses.replace(svc.database, background_sql=runner)
        sandbox = SandboxTelegram(1, database, svc.wakeup, svc.clock, poll_interval_s=0.01)
        _, update_id = await sandbox.inbound(
            InboundPerson(number=NUMBER, first_name="Ana", phone_visible=True), text="Hi"
        )
        lock = ForeignLock(path)
        processor = LockingProcessor(
            InboundProcessor(
                1,
                svc.database,
                svc.settings,
                svc.wakeup,
                svc.clock,
                svc.stamps,
            ),
            lock,
        )
        try:
            await sandbox.start(processor)
            await eventually(
                lambda: processor.outages >= 1,
                "the greeting to fail for the lock",
                timeout_s=WITHIN_S,
            )
            # More rounds of the pump fail than the tries after which an update is skipped.
            await eventually(
                lambda: runner.outages >= 8, "eight rounds refused for the lock", timeout_s=WITHIN_S
            )
            lock.release()
            assert await sandbox.wait_consumed(update_id, WITHIN_S)
        finally:
            lock.release()
            lock.conn.close()
            await sandbox.stop()
        recipients = await gw.http.get("/api/v1/recipients", headers=gw.api)
        assert [r["number"] for r in recipients.json()["data"]] == [NUMBER]


# --- PostgreSQL stopped and restarted (a private cluster) ---------------------------------------


async def test_a_send_while_postgresql_is_down_answers_503_saying_it_is_unreachable(
    private_postgres: PrivatePostgres,
) -> None:
    async with gateway(private_postgres.url) as gw:
        private_postgres.stop()
        message = assert_whatsmate_503(await gw.send(), "The database")
        assert "unreachable" in message or "lost" in message, message


async def test_a_native_send_while_postgresql_is_down_answers_503_database_unavailable(
    private_postgres: PrivatePostgres,
) -> None:
    async with gateway(private_postgres.url) as gw:
        private_postgres.stop()
        response = await gw.native_send()
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"


async def test_a_get_endpoint_while_postgresql_is_down_answers_503_not_500(
    private_postgres: PrivatePostgres,
) -> None:
    async with gateway(private_postgres.url) as gw:
        accepted = (await gw.send()).json()["id"]
        private_postgres.stop()
        response = await gw.http.get(f"{MESSAGES}/{accepted}", headers=gw.api)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"


async def test_no_endpoint_answers_500_while_postgresql_is_down(
    private_postgres: PrivatePostgres,
) -> None:
    async with gateway(private_postgres.url) as gw:
        private_postgres.stop()
        answers = await sweep(gw)
    assert not [a for a in answers if a[2] >= 500 and a[2] != 503], answers
    refused = {(method, path) for method, path, status in answers if status == 503}
    assert ("POST", TEXT) in refused and ("GET", MESSAGES) in refused, answers
    assert ("GET", "/admin/clients") in refused and ("GET", "/readyz") in refused, answers


async def test_no_write_endpoint_answers_500_while_the_disk_is_full(small_disk: SmallDisk) -> None:
    async with gateway(small_disk.url) as gw:
        small_disk.fill()
        assert (await gw.send()).status_code == 503
        answers = await sweep(gw)
    assert not [a for a in answers if a[2] >= 500 and a[2] != 503], answers
    assert ("POST", "/admin/clients", 503) in answers, answers


async def sweep(gw: Gateway) -> list[tuple[str, str, int]]:
    """Every kind of endpoint once: (method, path, status). A 503 must carry Retry-After and
    the error shape of its surface."""
    media = httpx.URL(gw.services.media_links.url({"id": str(uuid.uuid4())}))
    calls: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
        ("POST", TEXT, {"number": NUMBER, "message": "x"}, gw.api),
        ("POST", MESSAGES, {"instance": 1, "to": NUMBER, "text": "x"}, gw.api),
        ("GET", MESSAGES, None, gw.api),
        ("GET", f"{MESSAGES}/{uuid.uuid4()}", None, gw.api),
        ("GET", "/api/v1/recipients", None, gw.api),
        ("DELETE", f"/api/v1/recipients/{NUMBER}", None, gw.api),
        ("GET", "/api/v1/events", None, gw.api),
        ("GET", "/v1/telegram/status/1", None, gw.api),
        ("POST", "/admin/clients", {"client_id": "new@example.com"}, ADMIN),
        ("GET", "/admin/clients", None, ADMIN),
        ("POST", "/admin/clients/ops@example.com/rotate", {}, ADMIN),
        ("GET", "/admin/instances", None, ADMIN),
        ("GET", "/admin/instances/1", None, ADMIN),
        ("GET", "/admin/instances/1/login", None, ADMIN),
        ("PUT", "/admin/instances/1/profile", {"first_name": "Acme"}, ADMIN),
        ("POST", "/admin/sandbox/1/inbound", {"from": {"number": NUMBER}, "text": "x"}, ADMIN),
        ("GET", "/admin/sandbox/1/sent", None, ADMIN),
        ("POST", "/admin/sandbox/1/read", {"number": NUMBER, "max_message_id": 1}, ADMIN),
        ("POST", "/admin/sandbox/1/faults", {"error": "blocked", "times": 1}, ADMIN),
        ("GET", "/admin/recipients", None, ADMIN),
        ("GET", "/admin/messages", None, ADMIN),
        ("POST", "/admin/webhooks", {"url": "https://example.com/hook"}, ADMIN),
        ("GET", "/admin/webhooks", None, ADMIN),
        ("GET", f"/admin/webhooks/{uuid.uuid4()}/deliveries", None, ADMIN),
        ("GET", f"{media.path}?{media.query.decode()}", None, {}),
        ("GET", "/readyz", None, {}),
    ]
    answers: list[tuple[str, str, int]] = []
    for method, path, body, headers in calls:
        response = await gw.http.request(method, path, json=body, headers=headers)
        answers.append((method, path.split("?")[0], response.status_code))
        if response.status_code == 503:
            assert int(response.headers["retry-after"]) > 0, (path, response.headers)
            shape = ["error_message"] if path.startswith(("/v3/", "/v1/")) else ["error"]
            if path != "/readyz":
                assert list(response.json()) == shape, (path, response.text)
    assert (await gw.http.get("/healthz")).status_code == 200
    assert (await gw.http.get("/metrics")).status_code == 200
    return answers


async def test_readyz_is_503_while_postgresql_is_down_and_200_once_it_is_back(
    private_postgres: PrivatePostgres,
) -> None:
    async with gateway(private_postgres.url) as gw:
        private_postgres.stop()
        ready = await gw.http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "unavailable" and ready.json()["message"]
        private_postgres.start()
        ready = await gw.http.get("/readyz")
        assert ready.status_code == 200, ready.text


async def test_the_first_send_after_a_postgresql_restart_is_accepted(
    private_postgres: PrivatePostgres,
) -> None:
    """The restart kills every pooled connection; the pool must not hand out a dead one."""
    async with gateway(private_postgres.url) as gw:
        for i in range(3):  # several pooled connections
            assert (await gw.send(f"before-{i}")).status_code == 200
        private_postgres.restart()
        response = await gw.send("after")
        assert response.status_code == 200, response.text
        assert (await gw.native_send("after")).status_code == 202


async def test_the_send_worker_rides_out_a_postgresql_outage_and_sends_once_it_is_back(
    private_postgres: PrivatePostgres,
) -> None:
    async with gateway(private_postgres.url) as gw:
        accepted = (await gw.send("queued before")).json()["id"]
        private_postgres.stop()
        send_worker = make_worker(gw.services, 1)
        worker = asyncio.create_task(send_worker.run())
        try:

            async def waiting_for_the_database() -> bool:
                return send_worker._outage.down_since is not None  # it tried, and failed

            await eventually(
                waiting_for_the_database, "the worker to meet the outage", timeout_s=WITHIN_S
            )
            assert not worker.done(), worker
            private_postgres.start()

            async def sent() -> bool:
                response = await gw.http.get(f"{MESSAGES}/{accepted}", headers=gw.api)
                return response.status_code == 200 and response.json()["status"] == "sent"

            await eventually(sent, "the message to be sent after the outage", timeout_s=20)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker


# --- the classification ------------------------------------------------------------------------


def _driver_errors() -> list[tuple[BaseException, str]]:
    import asyncpg.exceptions as pg

    return [
        (sqlite3.OperationalError("database or disk is full"), "disk_full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "read_only"),
        (sqlite3.OperationalError("database is locked"), "locked"),
        (sqlite3.OperationalError("disk I/O error"), "io_error"),
        (sqlite3.OperationalError("unable to open database file"), "unreachable"),
        (pg.CannotConnectNowError("the database system is starting up"), "starting"),
        (pg.ConnectionDoesNotExistError("connection was closed in the middle"), "connection_lost"),
        (pg.PostgresConnectionError("connection failure"), "connection_lost"),
        (pg.AdminShutdownError("terminating connection due to administrator"), "connection_lost"),
        (pg.DiskFullError("could not extend file"), "disk_full"),
        (pg.ReadOnlySQLTransactionError("cannot execute INSERT"), "read_only"),
        (pg.TooManyConnectionsError("too many clients already"), "overloaded"),
        (OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")), "locked"),
        (
            DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
            "connection_lost",
        ),
        (SATimeoutError("QueuePool limit reached"), "overloaded"),
    ]


def test_driver_errors_of_an_outage_are_classified_by_what_is_wrong() -> None:
    for error, reason in _driver_errors():
        found = database_unavailable(error)
        assert found is not None and found.reason == reason, (error, found)
        assert found.status == 503 and int(found.headers["Retry-After"]) > 0
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
    found = database_unavailable(refused, via_database=True)
    assert found is not None and found.reason == "unreachable"
    assert found.message.startswith("The database is unreachable (connection refused)")


def test_an_os_error_outside_the_database_layer_is_not_an_outage() -> None:
    assert database_unavailable(OSError(errno.ENOSPC, "No space left on device")) is None


# --- on both backends ---------------------------------------------------------------------------


async def test_a_constraint_violation_is_not_mistaken_for_an_outage(schema: str) -> None:
    engine = create_engine(schema)
    row = {"client_id": "dup@example.com", "secret_hash": "x" * 64, "created_at": utcnow()}
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(table_of(ApiClient)), row)
        with pytest.raises(IntegrityError) as raised:
            async with engine.begin() as conn:
                await conn.execute(insert(table_of(ApiClient)), row)
        assert database_unavailable(raised.value) is None
    finally:
        await engine.dispose()
