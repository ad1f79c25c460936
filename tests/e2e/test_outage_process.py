"""End to end: the real `tgw serve --sandbox` process through database outages.

- SQLite on a small tmpfs that is filled up while clients send: 503 with Retry-After and the
  WhatsMate body (never a 500, never a dropped connection), and once the space is freed the
  very first send is accepted; every accepted message is sent exactly once.
- PostgreSQL (a private cluster, tests/e2e/private_postgres.py: never the machine's shared
  server) restarted in the middle of a burst: every answer is 200 or 503 with Retry-After, the
  sends after the restart are accepted, and every accepted message is sent exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.private_postgres import PrivatePostgres
from tests.e2e.test_serve_process import (
    PERSON,
    ServeHarness,
    ServerProcess,
    create_client,
    sent_log,
)
from tests.waiting import eventually

TEXT = "/v3/telegram/single/text/message/1"
SENDERS = 4
SETTINGS: dict[str, dict[str, Any]] = {
    "sending": {"per_second": 0, "per_recipient_interval_s": 0},
    "limits": {"messages_per_day": 100_000},
}


@dataclass
class Answer:
    text: str
    status: int | str  # the HTTP status, or the name of a transport error
    started: float
    retry_after: str | None = None
    body: Any = None


@dataclass
class Burst:
    """Clients sending `burst-N` texts until stopped; every answer kept."""

    http: httpx.AsyncClient
    api: dict[str, str]
    answers: list[Answer] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    numbers: Iterator[int] = field(default_factory=itertools.count)
    limit: int | None = None

    async def send(self, text: str) -> Answer:
        started = time.monotonic()
        try:
            response = await self.http.post(
                TEXT, json={"number": PERSON, "message": text}, headers=self.api
            )
        except httpx.TransportError as exc:
            answer = Answer(text, type(exc).__name__, started)
        else:
            body = response.json() if response.content else None
            answer = Answer(
                text, response.status_code, started, response.headers.get("retry-after"), body
            )
        self.answers.append(answer)
        return answer

    async def sender(self) -> None:
        for n in self.numbers:
            if self.stop.is_set() or (self.limit is not None and n >= self.limit):
                return
            await self.send(f"burst-{n}")

    def accepted(self) -> set[str]:
        return {a.text for a in self.answers if a.status == 200}

    def count(self, status: int) -> int:
        return sum(1 for a in self.answers if a.status == status)

    def wrong(self) -> list[Answer]:
        """Answers other than 200 and a proper 503 (Retry-After, the WhatsMate body)."""
        bad = []
        for a in self.answers:
            if a.status == 200:
                continue
            proper = (
                a.status == 503
                and a.retry_after is not None
                and int(a.retry_after) > 0
                and isinstance(a.body, dict)
                and list(a.body) == ["error_message"]
            )
            if not proper:
                bad.append(a)
        return bad


async def register_visible(http: httpx.AsyncClient, harness: ServeHarness) -> None:
    """PERSON says Hi with their phone visible; wait (bounded) for the confirmation."""
    body = {"from": {"number": PERSON, "first_name": "Ana", "phone_visible": True}, "text": "Hi"}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=harness.admin_headers)
    assert response.status_code == 200, response.text

    async def confirmed() -> bool | None:
        return True if await sent_log(http, harness, PERSON) else None

    await eventually(confirmed, "the registration reply", timeout_s=10.0, interval_s=0.1)


async def assert_sent_exactly_once(
    http: httpx.AsyncClient, harness: ServeHarness, accepted: set[str]
) -> None:
    async def everything_sent() -> Counter[str] | None:
        texts = Counter(
            row["text"] for row in await sent_log(http, harness, PERSON)
            if (row["text"] or "").startswith("burst-")
        )  # fmt: skip
        return texts if accepted <= set(texts) else None

    counts = await eventually(
        everything_sent, "every accepted message", timeout_s=60.0, interval_s=0.5
    )
    twice = {text: n for text, n in counts.items() if n != 1}
    assert not twice, f"sent more than once: {twice}"


# --- SQLite on a disk that fills up -------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
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
        yield root
    finally:
        done = subprocess.run(["umount", str(root)], capture_output=True, timeout=30, check=False)
        if done.returncode != 0:  # the server may still be closing its files
            subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=30)


def fill(filler: Path) -> None:
    """Take every free byte of the disk (unbuffered writes: nothing pending at ENOSPC)."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 512)
    finally:
        os.close(fd)


async def test_a_full_disk_answers_503_and_the_first_send_after_space_is_freed_succeeds(
    harness: ServeHarness, tmpfs: Path
) -> None:
    harness.write_config(database={"url": f"sqlite:///{tmpfs}/tgw.db"}, **SETTINGS)
    server = await harness.start()
    filler = tmpfs / "filler"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20.0) as http:
        api = await create_client(http, harness)
        await register_visible(http, harness)
        burst = Burst(http, api)
        senders = [asyncio.create_task(burst.sender()) for _ in range(SENDERS)]
        try:
            await eventually(
                lambda: len(burst.accepted()) >= 50,
                "50 sends accepted",
                timeout_s=20.0,
                interval_s=0.1,
            )

            async def refused_enough() -> bool | None:
                fill(filler)  # topped up: the gateway gives the WAL's room back when it can
                return True if burst.count(503) >= 20 else None

            await eventually(
                refused_enough,
                "20 sends refused for the full disk",
                timeout_s=20.0,
                interval_s=0.05,
            )
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["database"] == "disk_full", ready.text
        finally:
            burst.stop.set()
            await asyncio.gather(*senders)
        assert not burst.wrong(), burst.wrong()[:5]
        refusal = next(a for a in burst.answers if a.status == 503)
        assert "disk is full" in refusal.body["error_message"], refusal

        filler.unlink()
        first = await burst.send("burst-after")
        assert first.status == 200, first
        assert (await http.get("/readyz")).status_code == 200
        print(f"accepted {len(burst.accepted())}, refused {burst.count(503)}")
        await assert_sent_exactly_once(http, harness, burst.accepted())
    assert_clean_log(server)


# --- PostgreSQL restarted in the middle of a burst ----------------------------------------------

PG_BURST = 600


async def test_a_postgresql_restart_mid_burst_answers_200_or_503_and_sends_each_accepted_once(
    harness: ServeHarness, private_postgres: PrivatePostgres
) -> None:
    harness.write_config(database={"url": private_postgres.url}, **SETTINGS)
    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=20.0) as http:
        api = await create_client(http, harness)
        await register_visible(http, harness)
        burst = Burst(http, api, limit=PG_BURST)
        senders = [asyncio.create_task(burst.sender()) for _ in range(SENDERS)]
        try:
            await eventually(
                lambda: len(burst.accepted()) >= PG_BURST // 4,
                "a quarter accepted",
                timeout_s=30.0,
                interval_s=0.1,
            )
            await asyncio.to_thread(private_postgres.restart)  # the senders go on meanwhile
            restarted_at = time.monotonic()
        finally:
            await asyncio.gather(*senders)
        assert not burst.wrong(), burst.wrong()[:5]
        after = [a for a in burst.answers if a.started > restarted_at]
        assert after, "the burst ended before the restart did"
        assert all(a.status == 200 for a in after), [a for a in after if a.status != 200][:5]
        first = await burst.send("burst-after")
        assert first.status == 200, first
        print(
            f"accepted {len(burst.accepted())}, refused {burst.count(503)} "
            f"(during the restart), sent after it {len(after)}"
        )
        await assert_sent_exactly_once(http, harness, burst.accepted())
    assert_clean_log(server)


def assert_clean_log(server: ServerProcess) -> None:
    """No 500 was logged, and the server never dropped a connection over an error."""
    log = server.log_tail(2_000_000)
    assert "unhandled error" not in log, log[-4000:]
    assert "Exception in ASGI application" not in log, log[-4000:]
