"""The Telethon backend end to end: real Telethon, the gateway's pipeline and database, and a
fake Telegram that speaks real MTProto over TCP (tests/telegram/fake_mtproto).

Each test logs the gateway's number in (as `tgw login` does), starts the instance as
`tgw serve` does, and drives the send worker step by step.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from telethon.tl import types

from app.cluster.ownership import make_worker, start_instances
from app.main import create_app
from app.models import Event, InboundMessage, Instance, Message, Recipient
from app.services import Services, build_services
from app.telegram.port import LoginError, OutgoingMessage, UserPeer
from app.telegram.session_store import SessionStore, Snapshot
from app.telegram.telethon import TelethonBackend, TelethonConfig, TelethonLogin
from tests import tones
from tests.conftest import ADMIN, ADMIN_TOKEN, Clock, drain, make_settings
from tests.telegram.fake_mtproto import FakeTelegram
from tests.waiting import eventually

SECRET_KEY = "test-secret-key-for-sessions"
GATEWAY_PHONE = "4915111111111"
PERSON_PHONE = "34612345678"
WAIT_S = 15.0


def config_for(fake: FakeTelegram) -> TelethonConfig:
    return TelethonConfig(
        api_id=12345,
        api_hash="0123456789abcdef0123456789abcdef",
        server=(fake.host, fake.port),
        dc_id=fake.dc_id,
        public_key_pem=fake.public_key_pem,
    )


def telethon_services(schema: str, clock: Clock, fake: FakeTelegram) -> Services:
    settings = make_settings(schema, instances=[{"number": 1, "backend": "telethon"}])
    return build_services(
        settings,
        ADMIN_TOKEN,
        clock=clock,
        run_workers=False,
        secret_key=SECRET_KEY,
        telethon=config_for(fake),
    )


@asynccontextmanager
async def gateway(
    schema: str, clock: Clock, fake: FakeTelegram
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """The gateway as `tgw serve` runs it, workers driven by the test."""
    services = telethon_services(schema, clock, fake)
    app = create_app(services)
    await start_instances(services, workers=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as http:
            yield services, http
    finally:
        for backend in services.telegram.backends.values():
            await backend.stop()
        await services.close()


async def log_in(services: Services, fake: FakeTelegram, password: str | None = None) -> None:
    assert services.telegram.session_store is not None
    flow = TelethonLogin(1, services.telegram.session_store, services.telegram.telethon)
    try:
        assert (await flow.request_code(GATEWAY_PHONE)).step == "code_sent"
        step = await flow.submit_code(fake.login_code)
        if password is not None:
            assert step.step == "password_needed"
            step = await flow.submit_password(password)
        assert step.step == "ready"
    finally:
        await flow.close()


async def logged_in_beforehand(schema: str, clock: Clock, fake: FakeTelegram) -> None:
    """The number was logged in (as `tgw login` does) before the gateway starts."""
    services = telethon_services(schema, clock, fake)
    try:
        await log_in(services, fake)
    finally:
        await services.close()


def background_loads(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[Snapshot | None]:
    """What the backend's background tasks got each time they looked in the session store,
    from now on (the test's own task, and what it awaits, are left out).

    A barrier after a logout: once the backend's supervisor has found no session there, it
    can only wait for a login, so a check that nothing came back to life holds from then on.
    """
    assert services.telegram.session_store is not None
    store = services.telegram.session_store
    load = store.load
    test_task = asyncio.current_task()
    seen: list[Snapshot | None] = []

    async def watched(instance: int) -> Snapshot | None:
        snapshot = await load(instance)
        if asyncio.current_task() is not test_task:
            seen.append(snapshot)
        return snapshot

    monkeypatch.setattr(store, "load", watched)
    return seen


async def instance_row(services: Services) -> Instance:
    async with services.database.read() as session:
        row = await session.get(Instance, 1)
    assert row is not None
    return row


async def inbound_rows(services: Services) -> list[InboundMessage]:
    async with services.database.read() as session:
        return list(
            await session.scalars(
                select(InboundMessage).order_by(InboundMessage.telegram_message_id)
            )
        )


async def message_row(services: Services, message_id: str) -> Message:
    async with services.database.read() as session:
        row = await session.get(Message, message_id)
    assert row is not None
    return row


async def api_headers(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post(
        "/admin/clients", json={"client_id": "ops@example.com"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return {
        "X-WM-CLIENT-ID": "ops@example.com",
        "X-WM-CLIENT-SECRET": response.json()["client_secret"],
    }


async def registered(services: Services, number: str) -> Recipient | None:
    async with services.database.read() as session:
        row = await session.scalar(select(Recipient).where(Recipient.number == number))
    return row if row is not None and row.status == "registered" else None


async def greet(
    services: Services, fake: FakeTelegram, account: Any, person: Any, text: str = "Hola"
) -> None:
    fake.person_sends(person, account, text)
    await eventually(lambda: registered(services, person.phone), f"{person.phone} registered")


# --- login ---


async def test_code_login_stores_a_sealed_session_with_the_account(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE, first_name="Acme")
    services = telethon_services(schema, clock, fake)
    try:
        await log_in(services, fake)
        assert services.telegram.session_store is not None
        snapshot = await services.telegram.session_store.load(1)
        assert snapshot is not None
        assert snapshot["account"]["user_id"] == account.user_id
        assert snapshot["auth_key"]
        # The update state fetched at login is kept, so catch-up starts from the login.
        assert snapshot["states"]["0"][0] >= 0
        send_code = fake.requests_of("SendCodeRequest")
        assert send_code[0].phone_number == GATEWAY_PHONE
    finally:
        await services.close()


async def test_2fa_login_refuses_a_wrong_password_then_accepts_the_right_one(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE, password="correct horse")
    services = telethon_services(schema, clock, fake)
    assert services.telegram.session_store is not None
    flow = TelethonLogin(1, services.telegram.session_store, services.telegram.telethon)
    try:
        await flow.request_code(GATEWAY_PHONE)
        assert (await flow.submit_code(fake.login_code)).step == "password_needed"
        with pytest.raises(LoginError) as wrong:
            await flow.submit_password("battery staple")
        assert wrong.value.code == "password_invalid"
        # A failed step stores nothing: the instance is not logged in yet.
        assert await services.telegram.session_store.load(1) is None
        step = await flow.submit_password("correct horse")
        assert step.step == "ready"
        assert fake.requests_of("CheckPasswordRequest")
    finally:
        await flow.close()
        await services.close()


async def test_login_errors_have_stable_codes(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    services = telethon_services(schema, clock, fake)
    assert services.telegram.session_store is not None
    flow = TelethonLogin(1, services.telegram.session_store, services.telegram.telethon)
    try:
        with pytest.raises(LoginError) as bad_phone:
            await flow.request_code("12")
        assert bad_phone.value.code == "phone_invalid"
        with pytest.raises(LoginError) as unknown_phone:
            await flow.request_code("999000111222")
        assert unknown_phone.value.code == "phone_invalid"
        fake.fail_next("SendCodeRequest", "FLOOD_WAIT_120", 420)
        with pytest.raises(LoginError) as flood:
            await flow.request_code(GATEWAY_PHONE)
        assert flood.value.code == "flood_wait"
        assert flood.value.seconds == 120
        await flow.close()
        # (Telethon remembers the wait per client; a new attempt is a new client.)
        flow = TelethonLogin(1, services.telegram.session_store, services.telegram.telethon)
        await flow.request_code(GATEWAY_PHONE)
        with pytest.raises(LoginError) as wrong_code:
            await flow.submit_code("00000")
        assert wrong_code.value.code == "code_invalid"
        fake.expire_codes()
        with pytest.raises(LoginError) as expired:
            await flow.submit_code(fake.login_code)
        assert expired.value.code == "code_expired"
    finally:
        await flow.close()
        await services.close()


async def test_qr_login_refreshes_the_token_then_completes_on_scan(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    services = telethon_services(schema, clock, fake)
    assert services.telegram.session_store is not None
    flow = TelethonLogin(1, services.telegram.session_store, services.telegram.telethon)
    try:
        first = await flow.start_qr()
        assert first.step == "awaiting_qr"
        assert first.qr_url is not None and first.qr_url.startswith("tg://login?token=")
        # Nobody scans: the wait ends and a fresh token replaces the old one.
        second = await flow.wait_qr(0.5)
        assert second.step == "awaiting_qr"
        assert second.qr_url != first.qr_url
        fake.scan_qr(account)
        done = await flow.wait_qr(10)
        assert done.step == "ready"
        assert done.account is not None and done.account.user_id == account.user_id
        snapshot = await services.telegram.session_store.load(1)
        assert snapshot is not None and snapshot["account"]["user_id"] == account.user_id
    finally:
        await flow.close()
        await services.close()


async def test_qr_login_with_2fa_asks_for_the_password(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE, password="s3cret")
    services = telethon_services(schema, clock, fake)
    assert services.telegram.session_store is not None
    flow = TelethonLogin(1, services.telegram.session_store, services.telegram.telethon)
    try:
        await flow.start_qr()
        fake.scan_qr(account)
        step = await flow.wait_qr(10)
        assert step.step == "password_needed"
        assert (await flow.submit_password("s3cret")).step == "ready"
    finally:
        await flow.close()
        await services.close()


# --- the running instance ---


async def test_instance_without_a_login_is_logged_out_and_holds_its_queue(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with gateway(schema, clock, fake) as (services, _http):
        assert (await instance_row(services)).status == "logged_out"


async def test_a_login_from_another_process_is_picked_up_by_the_running_gateway(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    async with gateway(schema, clock, fake) as (services, _http):
        assert (await instance_row(services)).status == "logged_out"
        await log_in(services, fake)

        async def ready() -> bool:
            return (await instance_row(services)).status == "ready"

        await eventually(ready, "the instance to become ready")
        backend = services.telegram.backends[1]
        me = await backend.me()
        assert me is not None and me.user_id == account.user_id


async def test_greeting_from_a_visible_phone_registers_and_answers_in_spanish(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, _http):
        assert (await instance_row(services)).status == "ready"
        await greet(services, fake, account, person, "¡Hola!")
        recipient = await registered(services, PERSON_PHONE)
        assert recipient is not None
        assert recipient.user_id == person.user_id
        assert recipient.access_hash == person.access_hash
        await drain(make_worker(services, 1))
        replies = fake.sent_to(person)
        assert len(replies) == 1
        assert "registr" in replies[0].text.lower()  # the Spanish confirmation
        assert replies[0].request.peer == types.InputPeerUser(person.user_id, person.access_hash)


async def test_hidden_phone_registers_through_its_own_contact_card(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Bo", phone_visible=False)
    stranger = fake.add_person("34699999999", first_name="Other")
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, _http):
        fake.person_sends(person, account, "Hi")
        await eventually(lambda: inbound_rows(services), "the greeting")
        assert await registered(services, PERSON_PHONE) is None
        fake.person_sends(person, account, contact=stranger)  # someone else's card: refused
        await eventually(
            lambda: _count(services, InboundMessage, 2), "the stranger's card to be handled"
        )
        assert await registered(services, "34699999999") is None
        fake.person_sends(person, account, contact=person)
        recipient = await eventually(
            lambda: registered(services, PERSON_PHONE), "registration by contact card"
        )
        assert recipient.user_id == person.user_id


async def _count(services: Services, model: Any, at_least: int) -> bool:
    async with services.database.read() as session:
        count = await session.scalar(select(func.count()).select_from(model))
    return int(count or 0) >= at_least


async def test_each_kind_of_send_carries_its_bytes_name_attributes_and_random_id(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    await logged_in_beforehand(schema, clock, fake)
    png = _png()
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    ogg = tones.ogg_opus()
    mp3 = tones.mp3(title="Briefing", artist="Ana")
    async with gateway(schema, clock, fake) as (services, http):
        await greet(services, fake, account, person)
        headers = await api_headers(http)
        worker = make_worker(services, 1)
        await drain(worker)  # the registration reply
        ids: dict[str, str] = {}
        requests = {
            "text": {"number": PERSON_PHONE, "message": "**not markdown** [x](y)"},
            "image": {"number": PERSON_PHONE, "image": _b64(png), "caption": "a picture"},
            "document": {
                "number": PERSON_PHONE,
                "document": _b64(pdf),
                "filename": "invoice.pdf",
                "caption": "your invoice",
            },
            "audio": {"number": PERSON_PHONE, "audio": _b64(mp3), "filename": "song.mp3"},
            "voice_note": {
                "number": PERSON_PHONE,
                "voice_note": _b64(ogg),
                "filename": "voice.ogg",
            },
        }
        for kind, body in requests.items():
            response = await http.post(
                f"/v3/telegram/single/{kind}/message/1", json=body, headers=headers
            )
            assert response.status_code == 200, response.text
            ids[kind] = response.json()["id"]
        await drain(worker)
        sent = {record.message_id: record for record in fake.sent_to(person)}
        rows = {kind: await message_row(services, mid) for kind, mid in ids.items()}
        for kind, row in rows.items():
            assert row.status == "sent", (kind, row.error_code)
            record = sent[row.telegram_message_id]
            assert record.random_id == row.random_id, kind
        text = sent[rows["text"].telegram_message_id]
        assert text.text == "**not markdown** [x](y)"  # parse_mode=None: sent as written
        image = sent[rows["image"].telegram_message_id]
        assert image.kind == "photo" and image.data == png and image.text == "a picture"
        document = sent[rows["document"].telegram_message_id]
        assert document.kind == "document" and document.data == pdf
        assert document.filename == "invoice.pdf" and document.mime_type == "application/pdf"
        audio = sent[rows["audio"].telegram_message_id]
        assert audio.data == mp3 and audio.filename == "song.mp3" and not audio.voice
        assert (audio.audio.duration, audio.audio.title, audio.audio.performer) == (
            2,
            "Briefing",
            "Ana",
        )
        voice = sent[rows["voice_note"].telegram_message_id]
        assert voice.data == ogg and voice.voice and voice.audio.duration == 2
        assert hashlib.sha256(voice.data).hexdigest() == hashlib.sha256(ogg).hexdigest()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes([x * 16, 255 - x * 16, 128]) * 16 for x in range(16))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def _send_text(http: httpx.AsyncClient, headers: dict[str, str], text: str) -> str:
    response = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": PERSON_PHONE, "message": text},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    message_id: str = response.json()["id"]
    return message_id


@asynccontextmanager
async def ready_gateway(
    schema: str, clock: Clock, fake: FakeTelegram
) -> AsyncIterator[tuple[Services, httpx.AsyncClient, Any, Any, dict[str, str]]]:
    """Logged in, one registered person, the registration reply sent."""
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, http):
        await greet(services, fake, account, person)
        await drain(make_worker(services, 1))
        yield services, http, account, person, await api_headers(http)


async def test_flood_wait_on_send_pauses_the_instance_for_the_given_seconds(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _a, person, headers):
        # Telethon remembers longer waits itself, in real time; 3 s is the longest it forgets.
        fake.fail_next("SendMessageRequest", "FLOOD_WAIT_3", 420)
        message_id = await _send_text(http, headers, "later")
        worker = make_worker(services, 1)
        await drain(worker)
        inst = await instance_row(services)
        assert inst.status == "flood_wait"
        assert inst.paused_until is not None
        assert (inst.paused_until - clock()).total_seconds() == 3
        assert (await message_row(services, message_id)).status == "queued"
        await drain(worker)  # still paused: nothing goes out
        assert [r.text for r in fake.sent_to(person)][-1] != "later"
        clock.advance(4)
        await drain(worker)
        assert (await message_row(services, message_id)).status == "sent"
        assert [r.text for r in fake.sent_to(person)][-1] == "later"


async def test_a_person_who_blocked_the_number_fails_as_user_blocked(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _a, _p, headers):
        fake.fail_next("SendMessageRequest", "USER_IS_BLOCKED", 400)
        message_id = await _send_text(http, headers, "hello?")
        await drain(make_worker(services, 1))
        row = await message_row(services, message_id)
        assert (row.status, row.error_code) == ("failed", "user_blocked")


async def test_random_id_duplicate_on_a_retried_send_counts_as_sent_once(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _a, person, headers):
        message_id = await _send_text(http, headers, "exactly once")
        row = await message_row(services, message_id)
        # A gateway that died after Telegram took the message but before it recorded that:
        # the message went out with the random_id chosen when it was accepted...
        backend = services.telegram.backends[1]
        first = await backend.send(
            OutgoingMessage(
                peer=UserPeer(person.user_id, person.access_hash),
                random_id=row.random_id,
                text="exactly once",
            )
        )
        # ... and the worker, sending it again after the restart, is told RANDOM_ID_DUPLICATE.
        await drain(make_worker(services, 1))
        row = await message_row(services, message_id)
        assert row.status == "sent"
        assert fake.requests_of("SendMessageRequest")[-1].random_id == row.random_id
        texts = [r.text for r in fake.sent_to(person)]
        assert texts.count("exactly once") == 1
        assert first.message_id in [r.message_id for r in fake.sent_to(person)]


async def test_an_outbox_read_marks_the_message_read(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        message_id = await _send_text(http, headers, "please read")
        await drain(make_worker(services, 1))
        row = await message_row(services, message_id)
        assert row.telegram_message_id is not None
        fake.person_reads(person, account, row.telegram_message_id)

        async def read() -> bool:
            return (await message_row(services, message_id)).status == "read"

        await eventually(read, "the message to be read")
        async with services.database.read() as session:
            types_seen = list(await session.scalars(select(Event.type)))
        assert "message.read" in types_seen


async def test_an_edit_adds_no_inbound_message(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        before = len(await inbound_rows(services))
        message_id = fake.person_sends(person, account, "first version")
        await eventually(lambda: _count(services, InboundMessage, before + 1), "the message")
        fake.person_edits(person, account, message_id, "second version")
        marker = fake.person_sends(person, account, "after the edit")
        rows = await eventually(
            lambda: _rows_including(services, marker), "the message after the edit"
        )
        # The edit changes the stored message (message.edited: test_telethon_changes.py).
        assert len(rows) == before + 2


async def _rows_including(services: Services, telegram_id: int) -> list[InboundMessage]:
    rows = await inbound_rows(services)
    return rows if any(r.telegram_message_id == telegram_id for r in rows) else []


async def test_messages_sent_while_the_gateway_was_down_arrive_once_each(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, _http):
        await greet(services, fake, account, person)
    # The gateway is down: the person writes three times.
    missed = [fake.person_sends(person, account, f"while down {n}") for n in range(3)]
    async with gateway(schema, clock, fake) as (services, _http):
        rows = await eventually(
            lambda: _rows_including(services, missed[-1]), "the missed messages"
        )
        by_id = [r.telegram_message_id for r in rows]
        assert sorted(by_id) == sorted(set(by_id))
        assert set(missed) <= set(by_id)
    # A second restart replays nothing.
    async with gateway(schema, clock, fake) as (services, _http):
        marker = fake.person_sends(person, account, "after the second restart")
        rows = await eventually(lambda: _rows_including(services, marker), "the new message")
        by_id = [r.telegram_message_id for r in rows]
        assert len(by_id) == len(set(by_id)) == 5  # Hola, three while down, this one


async def test_a_revoked_session_holds_the_queue_until_a_new_login(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        fake.revoke(account)
        message_id = await _send_text(http, headers, "held")
        worker = make_worker(services, 1)
        await drain(worker)
        assert (await instance_row(services)).status == "revoked"
        assert (await message_row(services, message_id)).status == "queued"
        await drain(worker)  # held: nothing is tried while revoked
        assert (await message_row(services, message_id)).status == "queued"
        await log_in(services, fake)

        async def ready() -> bool:
            return (await instance_row(services)).status == "ready"

        await eventually(ready, "the new login to be picked up")
        await drain(worker)
        assert (await message_row(services, message_id)).status == "sent"
        assert [r.text for r in fake.sent_to(person)][-1] == "held"


async def test_the_gateway_reconnects_after_the_network_drops(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        await fake.drop_connections()
        marker = fake.person_sends(person, account, "after the drop")
        await eventually(lambda: _rows_including(services, marker), "the message after the drop")
        backend = services.telegram.backends[1]
        assert isinstance(backend, TelethonBackend)
        assert backend.connected


async def test_session_store_never_holds_the_auth_key_in_clear(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    services = telethon_services(schema, clock, fake)
    try:
        await log_in(services, fake)
        store = services.telegram.session_store
        assert isinstance(store, SessionStore)
        snapshot = await store.load(1)
        assert snapshot is not None
        import base64

        key = base64.b64decode(snapshot["auth_key"])
        from app.models import TelegramSession

        async with services.database.read() as session:
            row = await session.get(TelegramSession, 1)
        assert row is not None and key not in row.sealed
    finally:
        await services.close()


async def test_incoming_photo_document_and_voice_are_downloaded_and_stored(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    from app.models import MediaBlob

    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        photo = _png()
        pdf = b"%PDF-1.4\n" + bytes(range(256)) * 20
        ogg = b"OggS" + bytes(range(200))
        fake.person_sends(person, account, photo=photo)
        fake.person_sends(
            person, account, "the contract", document=(pdf, "contract.pdf", "application/pdf")
        )
        last = fake.person_sends(person, account, voice=ogg)
        rows = await eventually(lambda: _rows_including(services, last), "the three media")
        media_rows = [r for r in rows if r.media_kind is not None]
        assert [r.media_kind for r in media_rows] == ["image", "document", "voice_note"]
        async with services.database.read() as session:
            blobs = [await session.get(MediaBlob, r.media_id) for r in media_rows]
        assert [b.data for b in blobs if b is not None] == [photo, pdf, ogg]
        assert media_rows[1].filename == "contract.pdf"
        assert media_rows[1].text == "the contract"


async def test_a_reply_to_one_of_our_messages_names_it(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        message_id = await _send_text(http, headers, "Shall we meet on Friday?")
        await drain(make_worker(services, 1))
        ours = await message_row(services, message_id)
        answer = fake.person_sends(person, account, "Yes", reply_to=ours.telegram_message_id)
        rows = await eventually(lambda: _rows_including(services, answer), "the answer")
        assert rows[-1].reply_to_telegram_id == ours.telegram_message_id


async def test_group_messages_reach_a_group_the_account_is_in(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        chat_id = fake.add_group("Ops Team", creator=person, members=[account, person])
        other = fake.add_person("34677777777", first_name="Eve")
        fake.add_group("Ops Team", creator=other, members=[account, other])
        response = await http.post(
            "/v3/telegram/group/text/message/1",
            json={"group_name": "Ops Team", "group_admin": PERSON_PHONE, "message": "deploy at 5"},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        await drain(make_worker(services, 1))
        row = await message_row(services, response.json()["id"])
        assert row.status == "sent", row.error_code
        # The group whose creator has the given number, not the other one of the same name.
        assert [r.text for r in fake.sent_in_group(chat_id)] == ["deploy at 5"]
        missing = await http.post(
            "/v3/telegram/group/text/message/1",
            json={"group_name": "No Such Group", "group_admin": PERSON_PHONE, "message": "x"},
            headers=headers,
        )
        assert missing.status_code == 200
        await drain(make_worker(services, 1))
        failed = await message_row(services, missing.json()["id"])
        assert (failed.status, failed.error_code) == ("failed", "group_not_found")


async def test_a_v1_group_send_without_admin_needs_a_unique_title(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, account, person, headers):
        chat_id = fake.add_group("Night Desk", creator=person, members=[account, person])
        other = fake.add_person("34677777777", first_name="Eve")
        fake.add_group("Ops Team", creator=person, members=[account, person])
        fake.add_group("Ops Team", creator=other, members=[account, other])
        unique = await http.post(
            "/v1/telegram/group/message/1",
            json={"group": "night desk", "message": "shift starts"},
            headers=headers,
        )
        shared = await http.post(
            "/v1/telegram/group/message/1",
            json={"group": "Ops Team", "message": "which one?"},
            headers=headers,
        )
        assert unique.json()["success"] is shared.json()["success"] is True
        await drain(make_worker(services, 1))
        sent = await message_row(services, unique.json()["id"])
        assert sent.status == "sent", sent.error_code
        assert [r.text for r in fake.sent_in_group(chat_id)] == ["shift starts"]
        failed = await message_row(services, shared.json()["id"])
        assert (failed.status, failed.error_code) == ("failed", "group_not_found")
        assert "give group_admin" in (failed.error_detail or "")


async def test_a_read_receipt_given_while_the_gateway_was_down_still_marks_read(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    await logged_in_beforehand(schema, clock, fake)
    async with gateway(schema, clock, fake) as (services, http, *_):
        await greet(services, fake, account, person)
        headers = await api_headers(http)
        message_id = await _send_text(http, headers, "read me later")
        await drain(make_worker(services, 1))
        row = await message_row(services, message_id)
        assert row.status == "sent" and row.telegram_message_id is not None
    fake.person_reads(person, account, row.telegram_message_id)  # while the gateway is down
    async with gateway(schema, clock, fake) as (services, _http):

        async def read() -> bool:
            return (await message_row(services, message_id)).status == "read"

        await eventually(read, "the message to be marked read after the restart")


async def test_a_long_outage_is_reported_and_the_gateway_comes_back_by_itself(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, _http, account, person, _h):
        port = fake.port
        await fake.stop()  # Telegram unreachable: connections refused

        async def reported_down() -> bool:
            inst = await instance_row(services)
            return inst.status_detail is not None and "reconnect" in inst.status_detail

        await eventually(reported_down, "the outage to be reported")
        async with services.database.read() as session:
            details = list(
                await session.scalars(select(Event.payload).where(Event.type == "instance.status"))
            )
        assert any("reconnect" in d for d in details)  # an instance.status event says so
        await fake.start(port=port)
        marker = fake.person_sends(person, account, "after the outage")
        await eventually(lambda: _rows_including(services, marker), "the message after it")

        async def back() -> bool:
            inst = await instance_row(services)
            return inst.status == "ready" and inst.status_detail is None

        await eventually(back, "the instance to be ready again")


async def test_a_banned_account_is_reported_banned_and_stays_so_after_a_restart(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _account, _person, headers):
        fake.fail_next("SendMessageRequest", "USER_DEACTIVATED_BAN")
        message_id = await _send_text(http, headers, "to a banned account")
        worker = make_worker(services, 1)
        await drain(worker)
        row = await instance_row(services)
        assert row.status == "banned" and "banned" in (row.status_detail or "")
        assert (await message_row(services, message_id)).status == "queued"
    async with gateway(schema, clock, fake) as (services, _http):
        # The stored session remembers why it ended: not reported as a mere revocation.
        async def banned() -> bool:
            return (await instance_row(services)).status == "banned"

        await eventually(banned, "the banned status after a restart")


async def test_a_frozen_account_pauses_the_queue_with_a_human_detail(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    async with ready_gateway(schema, clock, fake) as (services, http, _account, person, headers):
        fake.fail_next("SendMessageRequest", "FROZEN_METHOD_INVALID", 420)
        message_id = await _send_text(http, headers, "frozen for now")
        worker = make_worker(services, 1)
        await drain(worker)
        row = await instance_row(services)
        assert row.status == "frozen" and "froze" in (row.status_detail or "")
        assert row.paused_until is not None
        assert (await message_row(services, message_id)).status == "queued"
        clock.advance((row.paused_until - clock.now).total_seconds() + 1)
        await drain(worker)
        assert (await message_row(services, message_id)).status == "sent"
        assert [r.text for r in fake.sent_to(person)][-1] == "frozen for now"
