"""End to end with the real number's backend: `tgw login` and `tgw serve` as processes, against a
fake Telegram that speaks real MTProto over TCP (tests/telegram/fake_mtproto), as an admin would
use them: log in from the terminal (code, 2FA, QR), a person says "Hola", messages go out
byte-identical, a read receipt marks `read`, and after a `kill -9` the messages people sent
meanwhile arrive, once each.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve_process import (
    ServeHarness,
    child_env,
    create_client,
    make_pdf,
    make_png,
)
from tests.telegram.fake_mtproto import FakeTelegram
from tests.waiting import eventually

GATEWAY_PHONE = "4915111111111"
PERSON = "34612345678"
WITHIN_S = 30.0


def telethon_harness(
    root: Path, fake: FakeTelegram, *, database_url: str | None = None, **telegram: Any
) -> ServeHarness:
    """`tgw serve` (Telethon, no sandbox) configured to reach `fake`; `telegram`: more of its
    [telegram] settings."""
    key_file = root / "server-key.pem"
    fake.write_public_key(key_file)
    serve = ServeHarness(root, sandbox=False)
    sections: dict[str, dict[str, Any]] = {}
    if database_url is not None:
        sections["database"] = {"url": database_url}
    serve.write_config(
        **sections,
        telegram={
            "api_id": 12345,
            "api_hash": "0123456789abcdef0123456789abcdef",
            "server": f"{fake.host}:{fake.port}",
            "dc_id": fake.dc_id,
            "public_key_file": str(key_file),
            **telegram,
        },
        sending={"per_second": 0, "per_recipient_interval_s": 0},
    )
    return serve


@pytest.fixture
async def harness(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[ServeHarness]:
    serve = telethon_harness(tmp_path, fake)
    try:
        yield serve
    finally:
        # stop() waits for the process; the fake must keep answering meanwhile.
        await asyncio.to_thread(serve.stop_all)


async def tgw(harness: ServeHarness, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run a `tgw` command with the harness's config; its own session, so no terminal: the
    password prompt reads stdin like the other prompts."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        "--config",
        str(harness.config_path),
        cwd=harness.root,
        env=child_env(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def instance_status(http: httpx.AsyncClient, harness: ServeHarness) -> str:
    response = await http.get("/admin/instances/1", headers=harness.admin_headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def received(
    http: httpx.AsyncClient, harness: ServeHarness, headers: dict[str, str]
) -> list[dict[str, Any]]:
    response = await http.get("/api/v1/events", params={"after": 0, "limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    return [e for e in response.json()["data"] if e["type"] == "message.received"]


async def test_terminal_login_with_2fa_then_hola_send_read_and_catch_up_after_kill_9(
    harness: ServeHarness, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE, first_name="Acme", password="hunter2!")
    person = fake.add_person(PERSON, first_name="Ana")

    code, out, err = await tgw(
        harness, "login", "--phone", GATEWAY_PHONE, stdin=f"{fake.login_code}\nwrong\nhunter2!\n"
    )
    assert code == 0, out + err
    assert "password is wrong" in err  # the first try, then the right one
    assert f"user id {account.user_id}" in out
    assert "hunter2!" not in out + err

    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:

        async def ready() -> bool | None:
            return True if await instance_status(http, harness) == "ready" else None

        await eventually(ready, "instance 1 ready", timeout_s=WITHIN_S, interval_s=0.1)
        headers = await create_client(http, harness)

        fake.person_sends(person, account, "Hola")

        async def confirmation() -> str | None:
            texts = [r.text for r in fake.sent_to(person)]
            return texts[0] if texts else None

        reply = await eventually(
            confirmation, "the Spanish confirmation", timeout_s=WITHIN_S, interval_s=0.1
        )
        assert "registr" in reply.lower()

        png, pdf = make_png(), make_pdf()
        bodies = {
            "text": {"number": PERSON, "message": "Your order shipped"},
            "image": {"number": PERSON, "image": base64.b64encode(png).decode()},
            "document": {
                "number": PERSON,
                "document": base64.b64encode(pdf).decode(),
                "filename": "invoice.pdf",
            },
        }
        ids = {}
        for kind, body in bodies.items():
            response = await http.post(
                f"/v3/telegram/single/{kind}/message/1", json=body, headers=headers
            )
            assert response.status_code == 200, response.text
            ids[kind] = response.json()["id"]

        async def all_sent() -> list[Any] | None:
            records = fake.sent_to(person)
            return records if len(records) >= 4 else None

        records = await eventually(
            all_sent, "three messages at Telegram", timeout_s=WITHIN_S, interval_s=0.1
        )
        by_kind = {r.kind: r for r in records[1:]}
        assert by_kind["text"].text == "Your order shipped"
        assert by_kind["photo"].data is not None
        assert hashlib.sha256(by_kind["photo"].data).digest() == hashlib.sha256(png).digest()
        assert by_kind["document"].data == pdf
        assert by_kind["document"].filename == "invoice.pdf"

        # The person reads everything: the text message becomes `read`.
        fake.person_reads(person, account, max(r.message_id for r in records))

        async def read() -> bool | None:
            response = await http.get(f"/api/v1/messages/{ids['text']}", headers=headers)
            return True if response.json()["status"] == "read" else None

        await eventually(read, "the text message to be read", timeout_s=WITHIN_S, interval_s=0.1)
        before = await received(http, harness, headers)

    server.kill9()
    missed = [fake.person_sends(person, account, f"while down {n}") for n in range(3)]
    server = await harness.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:

        async def caught_up() -> list[dict[str, Any]] | None:
            events = await received(http, harness, headers)
            ids_seen = {e["data"]["telegram_message_id"] for e in events}
            return events if set(missed) <= ids_seen else None

        events = await eventually(
            caught_up,
            "the messages sent while the gateway was down",
            timeout_s=WITHIN_S,
            interval_s=0.1,
        )
        telegram_ids = [e["data"]["telegram_message_id"] for e in events]
        assert len(telegram_ids) == len(set(telegram_ids)), "a message arrived twice"
        assert len(events) == len(before) + 3
        assert [e["message"] for e in events[-3:]] == [f"while down {n}" for n in range(3)]


async def test_terminal_qr_login_prints_a_code_and_completes_on_scan(
    harness: ServeHarness, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "login", "--qr", "--config", str(harness.config_path),
        cwd=harness.root, env=child_env(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        printed = b""
        while b"tg://login?token=" not in printed:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, "tgw login --qr ended before printing a QR code"
            printed += line
        fake.scan_qr(account)
        rest, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, (printed + rest).decode() + err.decode()
    assert "▀" in printed.decode() or "█" in printed.decode()  # the QR code itself
    assert f"user id {account.user_id}" in rest.decode()


async def test_login_with_a_wrong_code_three_times_fails_clearly(
    harness: ServeHarness, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    code, _out, err = await tgw(harness, "login", "--phone", GATEWAY_PHONE, stdin="1\n2\n3\n")
    assert code == 1
    assert "code_invalid" in err
    assert "Traceback" not in err


async def test_logout_ends_the_session_at_telegram(
    harness: ServeHarness, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    code, out, err = await tgw(harness, "login", "--phone", GATEWAY_PHONE, stdin="12345\n")
    assert code == 0, out + err
    code, out, err = await tgw(harness, "logout", "--json")
    assert code == 0, out + err
    assert '"logged_out": true' in out
    assert fake.requests_of("LogOutRequest")
    code, out, err = await tgw(harness, "status", "--json")
    assert code == 0 and '"logged_out"' in out


if os.name != "posix":  # start_new_session and SIGKILL
    pytestmark = pytest.mark.skip("POSIX only")
