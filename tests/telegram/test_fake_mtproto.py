"""The fake MTProto server against plain, unmodified Telethon clients (no gateway code)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
import telethon
from telethon import TelegramClient, errors, events, functions, types
from telethon.crypto import AES, Factorization
from telethon.network import (
    ConnectionTcpAbridged,
    ConnectionTcpFull,
    ConnectionTcpIntermediate,
    ConnectionTcpObfuscated,
)
from telethon.sessions import MemorySession

from tests.telegram.fake_mtproto import FakeTelegram, FakeUser
from tests.telegram.fake_mtproto.crypto import ige_decrypt, ige_encrypt, shared_server_key
from tests.telegram.fake_mtproto.handshake import Handshake
from tests.waiting import eventually

API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"
TIMEOUT = 10.0
ACCOUNT_PHONE = "+1 555 000 1111"
PASSWORD = "correct horse"

T = TypeVar("T")
MakeClient = Callable[..., Any]


async def w(aw: Awaitable[T]) -> T:
    """Every await on the network gets a deadline: a bug fails the test instead of hanging."""
    return await asyncio.wait_for(aw, TIMEOUT)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    telethon.crypto.rsa.add_key(server.public_key_pem, old=False)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def make_client(fake: FakeTelegram) -> AsyncIterator[MakeClient]:
    made: list[Any] = []

    def make(session: Any = None, **kwargs: Any) -> Any:
        options: dict[str, Any] = {"retry_delay": 0.2, "timeout": 5, **kwargs}
        client = TelegramClient(session or MemorySession(), API_ID, API_HASH, **options)
        client.session.set_dc(fake.dc_id, "127.0.0.1", fake.port)
        made.append(client)
        return client

    yield make
    for client in made:
        await w(client.disconnect())


@pytest.fixture
def account(fake: FakeTelegram) -> FakeUser:
    return fake.add_account(ACCOUNT_PHONE, first_name="Acme", last_name="Support")


@pytest.fixture
def ann(fake: FakeTelegram) -> FakeUser:
    return fake.add_person("+49 151 0000001", first_name="Ann", username="ann")


async def logged_in(
    make_client: MakeClient, fake: FakeTelegram, account: FakeUser, **kw: Any
) -> Any:
    client = make_client(**kw)
    await w(client.connect())
    await w(client.send_code_request(account.phone))
    await w(client.sign_in(account.phone, fake.login_code))
    return client


def collect(client: Any, event: Any) -> asyncio.Queue[Any]:
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def handler(ev: Any) -> None:
        queue.put_nowait(ev)

    client.add_event_handler(handler, event)
    return queue


async def after_a_later_message(
    inbox: asyncio.Queue[Any], fake: FakeTelegram, person: FakeUser, account: FakeUser, text: str
) -> Any:
    """A barrier before checking that nothing else came: `person` sends `text` now and its
    event is awaited. Telethon dispatches updates in the order it gets them, so whatever it
    was going to deliver before this message has been delivered once it is here."""
    fake.person_sends(person, account, text)
    return await w(inbox.get())


# --- handshake and login ---


async def test_handshake_then_code_login_without_2fa(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    client = make_client()
    await w(client.connect())
    assert not await w(client.is_user_authorized())
    sent = await w(client.send_code_request(ACCOUNT_PHONE))
    assert isinstance(sent.type, types.auth.SentCodeTypeApp) and sent.type.length == 5

    me = await w(client.sign_in(ACCOUNT_PHONE, "12345"))

    assert me.id == account.user_id and me.is_self and me.phone == "15550001111"
    assert (await w(client.get_me())).first_name == "Acme"
    assert await w(client.is_user_authorized())
    names = [type(r).__name__ for _, r in fake.requests]
    assert names[:2] == ["GetConfigRequest", "GetUsersRequest"]  # what connect() sends
    assert "SignInRequest" in names and "GetStateRequest" in names
    assert fake.init_connections and fake.init_connections[0].api_id == API_ID
    assert fake.authorized_keys(account) == [client.session.auth_key.key_id]


async def test_login_with_2fa_rejects_a_wrong_password_then_accepts_the_right_one(
    fake: FakeTelegram, make_client: MakeClient
) -> None:
    account = fake.add_account("15550003333", password=PASSWORD)
    client = make_client()
    await w(client.connect())
    await w(client.send_code_request(account.phone))
    with pytest.raises(errors.SessionPasswordNeededError):
        await w(client.sign_in(account.phone, fake.login_code))
    with pytest.raises(errors.PasswordHashInvalidError):
        await w(client.sign_in(password="wrong"))

    me = await w(client.sign_in(password=PASSWORD))

    assert me.id == account.user_id
    assert await w(client.is_user_authorized())


async def test_wrong_code_is_invalid(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    client = make_client()
    await w(client.connect())
    await w(client.send_code_request(account.phone))
    with pytest.raises(errors.PhoneCodeInvalidError):
        await w(client.sign_in(account.phone, "99999"))
    assert (await w(client.sign_in(account.phone, fake.login_code))).id == account.user_id


async def test_expired_code(fake: FakeTelegram, make_client: MakeClient, account: FakeUser) -> None:
    client = make_client()
    await w(client.connect())
    await w(client.send_code_request(account.phone))
    fake.expire_codes()
    with pytest.raises(errors.PhoneCodeExpiredError):
        await w(client.sign_in(account.phone, fake.login_code))


async def test_unknown_phone_is_invalid(fake: FakeTelegram, make_client: MakeClient) -> None:
    client = make_client()
    await w(client.connect())
    with pytest.raises(errors.PhoneNumberInvalidError):
        await w(client.send_code_request("15559999999"))


async def test_qr_login(fake: FakeTelegram, make_client: MakeClient, account: FakeUser) -> None:
    client = make_client()
    await w(client.connect())
    qr = await w(client.qr_login())
    assert qr.url.startswith("tg://login?token=") and fake.qr_tokens_issued == 1
    waiter = asyncio.ensure_future(qr.wait(TIMEOUT))
    await eventually(client.list_event_handlers, "qr.wait() to listen for UpdateLoginToken")

    fake.scan_qr(account)
    user = await w(waiter)

    assert user.id == account.user_id
    assert await w(client.is_user_authorized())


async def test_qr_login_with_2fa_needs_the_password(
    fake: FakeTelegram, make_client: MakeClient
) -> None:
    account = fake.add_account("15550004444", password=PASSWORD)
    client = make_client()
    await w(client.connect())
    qr = await w(client.qr_login())
    waiter = asyncio.ensure_future(qr.wait(TIMEOUT))
    await eventually(client.list_event_handlers, "qr.wait() to listen for UpdateLoginToken")
    fake.scan_qr(account)
    with pytest.raises(errors.SessionPasswordNeededError):
        await w(waiter)

    me = await w(client.sign_in(password=PASSWORD))

    assert me.id == account.user_id


@pytest.mark.parametrize(
    "connection",
    [ConnectionTcpFull, ConnectionTcpIntermediate, ConnectionTcpAbridged, ConnectionTcpObfuscated],
    ids=["full", "intermediate", "abridged", "obfuscated"],
)
async def test_every_tcp_transport_works(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser, connection: Any
) -> None:
    client = await logged_in(make_client, fake, account, connection=connection)
    inbox = collect(client, events.NewMessage)
    fake.person_sends(ann, account, "x" * 3000)  # long enough for multi-byte length prefixes
    assert (await w(inbox.get())).raw_text == "x" * 3000


async def test_log_out_unbinds_the_key(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    assert await w(client.log_out())
    assert fake.authorized_keys(account) == []


# --- sending ---


async def test_send_text_with_a_raw_request(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    request = functions.messages.SendMessageRequest(
        peer=types.InputPeerUser(ann.user_id, ann.access_hash),
        message="Your order shipped",
        random_id=777,
    )

    result = await w(client(request))

    (sent,) = fake.sent_to(ann)
    assert isinstance(result, types.UpdateShortSentMessage) and result.id == sent.message_id
    assert (sent.text, sent.random_id, sent.kind, sent.account_id) == (
        "Your order shipped",
        777,
        "text",
        account.user_id,
    )


async def test_send_message_high_level_and_reply(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    incoming = fake.person_sends(ann, account, "question")

    message = await w(
        client.send_message(ann.input_peer, "**answer**", parse_mode=None, reply_to=incoming)
    )

    (sent,) = fake.sent_to(ann)
    assert message.id == sent.message_id and sent.text == "**answer**" and sent.reply_to == incoming


async def test_same_random_id_twice_is_a_duplicate(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(
        make_client, fake, account, raise_last_call_error=True, request_retries=0
    )

    def request() -> Any:
        return functions.messages.SendMessageRequest(
            peer=ann.input_peer, message="once", random_id=5
        )

    await w(client(request()))
    with pytest.raises(errors.RandomIdDuplicateError):
        await w(client(request()))  # Telethon sleeps 2 s after a 500 before giving up
    assert len(fake.sent_to(ann)) == 1


async def test_wrong_access_hash_is_an_invalid_peer(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    with pytest.raises(errors.PeerIdInvalidError):
        await w(client.send_message(types.InputPeerUser(ann.user_id, ann.access_hash + 1), "hi"))


async def test_send_photo_document_and_voice_reassembles_the_bytes(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    photo = io.BytesIO(b"\xff\xd8\xff" + bytes(range(256)) * 700)  # several upload parts
    photo.name = "photo.jpg"
    pdf = b"%PDF-1.4 " + b"z" * 5000
    voice = b"OggS" + b"v" * 3000

    m1 = await w(client.send_file(ann.input_peer, photo, caption="the photo"))
    # Named BytesIO: send_file(mime_type=...) exists only in newer Telethon (1.39 ignores it).
    pdf_file = io.BytesIO(pdf)
    pdf_file.name = "invoice.pdf"
    m2 = await w(client.send_file(ann.input_peer, pdf_file, force_document=True))
    voice_file = io.BytesIO(voice)
    voice_file.name = "note.ogg"
    m3 = await w(client.send_file(ann.input_peer, voice_file, voice_note=True))

    r1, r2, r3 = fake.sent_to(ann)
    assert (r1.kind, r1.data, r1.text, r1.message_id) == (
        "photo",
        photo.getvalue(),
        "the photo",
        m1.id,
    )
    assert (r2.kind, r2.data, r2.filename, r2.mime_type) == (
        "document",
        pdf,
        "invoice.pdf",
        "application/pdf",
    )
    assert (r3.kind, r3.data, r3.voice) == ("document", voice, True)
    assert m2.id == r2.message_id and m3.id == r3.message_id
    assert isinstance(m1.media, types.MessageMediaPhoto)
    assert m2.file.name == "invoice.pdf"


async def test_big_file_parts_are_reassembled(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    parts = [b"a" * 1024, b"b" * 1024, b"c" * 10]
    for i, part in enumerate(parts):
        assert await w(client(functions.upload.SaveBigFilePartRequest(99, i, len(parts), part)))
    media = types.InputMediaUploadedDocument(
        file=types.InputFileBig(99, len(parts), "big.bin"),
        mime_type="application/octet-stream",
        attributes=[],
    )

    await w(client(functions.messages.SendMediaRequest(ann.input_peer, media, message="")))

    (sent,) = fake.sent_to(ann)
    assert sent.data == b"".join(parts) and sent.filename == "big.bin"


# --- receiving ---


async def test_incoming_message_is_pushed_live_with_the_sender(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    hidden = fake.add_person("4915100000002", first_name="Bob", phone_visible=False)
    client = await logged_in(make_client, fake, account)
    inbox = collect(client, events.NewMessage(incoming=True))

    first = fake.person_sends(ann, account, "Hi")
    fake.person_sends(hidden, account, "Hello")

    e1, e2 = await w(inbox.get()), await w(inbox.get())
    assert (e1.id, e1.raw_text, e1.is_private, e1.sender_id) == (first, "Hi", True, ann.user_id)
    assert e1.sender.access_hash == ann.access_hash and e1.sender.phone == ann.phone
    assert e1.input_sender == types.InputPeerUser(ann.user_id, ann.access_hash)
    assert e2.raw_text == "Hello" and e2.sender.phone is None


async def test_contact_card(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    inbox = collect(client, events.NewMessage)

    fake.person_sends(ann, account, contact=ann)
    fake.person_sends(ann, account, contact=("4915199999999", 4242, "Carl"))

    own, other = (await w(inbox.get())).media, (await w(inbox.get())).media
    assert isinstance(own, types.MessageMediaContact)
    assert (own.user_id, own.phone_number, own.first_name) == (ann.user_id, ann.phone, "Ann")
    assert (other.user_id, other.phone_number, other.first_name) == (4242, "4915199999999", "Carl")


async def test_incoming_media_can_be_downloaded(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    inbox = collect(client, events.NewMessage)
    photo = bytes(range(256)) * 1000  # more than one download request
    doc = b"%PDF" + b"d" * 70000

    fake.person_sends(ann, account, "look", photo=photo)
    fake.person_sends(ann, account, document=(doc, "scan.pdf", "application/pdf"))
    fake.person_sends(ann, account, voice=b"OggS-voice")
    fake.person_sends(ann, account, audio=(b"ID3-song", "song.mp3"))

    e_photo, e_doc, e_voice, e_audio = [await w(inbox.get()) for _ in range(4)]
    assert e_photo.photo is not None and e_photo.raw_text == "look"
    assert await w(e_photo.message.download_media(file=bytes)) == photo
    assert e_doc.file.name == "scan.pdf" and e_doc.file.mime_type == "application/pdf"
    assert await w(client.download_media(e_doc.message, file=bytes)) == doc
    assert e_voice.voice is not None
    assert await w(e_voice.message.download_media(file=bytes)) == b"OggS-voice"
    assert e_audio.audio is not None and e_audio.file.mime_type == "audio/mpeg"
    assert await w(e_audio.message.download_media(file=bytes)) == b"ID3-song"


async def test_reply_and_edit(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    inbox = collect(client, events.NewMessage)
    edits = collect(client, events.MessageEdited)
    sent = await w(client.send_message(ann.input_peer, "Which size?"))

    msg_id = fake.person_sends(ann, account, "M", reply_to=sent.id)
    fake.person_edits(ann, account, msg_id, "L")

    assert (await w(inbox.get())).reply_to_msg_id == sent.id
    edited = await w(edits.get())
    assert (edited.id, edited.raw_text) == (msg_id, "L")


async def test_outbox_read_receipt(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    reads = collect(client, events.MessageRead(inbox=False))
    sent = await w(client.send_message(ann.input_peer, "Your code is 1234"))

    fake.person_reads(ann, account, sent.id)

    event = await w(reads.get())
    assert event.outbox and event.max_id == sent.id and event.chat_id == ann.user_id
    assert event.is_read(sent.id)


async def test_marking_messages_read(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    msg_id = fake.person_sends(ann, account, "Hi")

    assert await w(client.send_read_acknowledge(ann.input_peer, max_id=msg_id))

    assert fake.read_max_id(account, ann) == msg_id


async def test_other_sessions_of_the_account_see_outgoing_messages(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    phone_app = await logged_in(make_client, fake, account)
    gateway = await logged_in(make_client, fake, account)
    mirrored = collect(gateway, events.NewMessage(outgoing=True))

    await w(phone_app.send_message(ann.input_peer, "sent from the phone"))

    assert (await w(mirrored.get())).raw_text == "sent from the phone"


async def test_catch_up_after_a_restart_delivers_missed_messages_exactly_once(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    session = MemorySession()
    first = await logged_in(make_client, fake, account, session=session)
    live = collect(first, events.NewMessage)
    fake.person_sends(ann, account, "seen live")
    assert (await w(live.get())).raw_text == "seen live"
    await w(first.disconnect())  # stores the update state in the session
    stored_pts = session.get_update_state(0).pts

    missed = [fake.person_sends(ann, account, text) for text in ("one", "two", "three")]
    second = make_client(session, catch_up=True)
    inbox = collect(second, events.NewMessage)
    await w(second.connect())
    got = [await w(inbox.get()) for _ in range(3)]
    live_again = await after_a_later_message(inbox, fake, ann, account, "live again")

    assert [e.id for e in got] == missed and [e.raw_text for e in got] == ["one", "two", "three"]
    assert all(e.sender.access_hash == ann.access_hash for e in got)  # users came along
    assert inbox.empty()  # nothing else followed (nothing came before "live again" either)
    assert fake.requests_of("GetDifferenceRequest")[-1].pts == stored_pts
    assert live_again.raw_text == "live again"


async def test_catch_up_skips_edits_and_read_receipts_a_telethon_quirk(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    """getDifference returns them in other_updates (with pts), but Telethon's MessageBox drops
    pts-carrying other_updates while it is getting the difference. Recover read marks with
    messages.getPeerDialogs instead."""
    session = MemorySession()
    first = await logged_in(make_client, fake, account, session=session)
    live = collect(first, events.NewMessage)
    sent = await w(first.send_message(ann.input_peer, "Your code is 1234"))
    incoming = fake.person_sends(ann, account, "typo")
    assert (await w(live.get())).id == incoming
    await w(first.disconnect())
    fake.person_edits(ann, account, incoming, "fixed")
    fake.person_reads(ann, account, sent.id)
    fake.person_sends(ann, account, "new")

    second = make_client(session, catch_up=True)
    seen = collect(second, events.NewMessage)
    edits = collect(second, events.MessageEdited)
    reads = collect(second, events.MessageRead(inbox=False))
    await w(second.connect())
    assert (await w(seen.get())).raw_text == "new"
    assert (await after_a_later_message(seen, fake, ann, account, "later")).raw_text == "later"

    assert edits.empty() and reads.empty()
    peer_dialogs = await w(
        second(functions.messages.GetPeerDialogsRequest([types.InputDialogPeer(ann.input_peer)]))
    )
    assert peer_dialogs.dialogs[0].read_outbox_max_id == sent.id


async def test_messages_sent_while_the_network_was_down_arrive_after_reconnecting(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    inbox = collect(client, events.NewMessage)

    await fake.drop_connections()
    fake.person_sends(ann, account, "during outage 1")
    fake.person_sends(ann, account, "during outage 2")
    await eventually(lambda: fake.connection_count > 0, "the client to reconnect")
    await w(client.catch_up())  # or wait for the next update to reveal the pts gap
    fake.person_sends(ann, account, "after outage")

    texts = [(await w(inbox.get())).raw_text for _ in range(3)]
    later = await after_a_later_message(inbox, fake, ann, account, "later")
    assert sorted(texts) == ["after outage", "during outage 1", "during outage 2"]
    assert later.raw_text == "later" and inbox.empty()  # nothing came twice


# --- errors ---


async def test_fail_next_flood_wait(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account, flood_sleep_threshold=0)
    fake.fail_next("SendMessageRequest", "FLOOD_WAIT_30", 420)

    with pytest.raises(errors.FloodWaitError) as caught:
        await w(client(functions.messages.SendMessageRequest(ann.input_peer, "hi", random_id=1)))

    assert caught.value.seconds == 30
    assert fake.sent_to(ann) == []


async def test_fail_next_without_a_code_uses_the_usual_one(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    fake.fail_next("SendMessageRequest", "USER_IS_BLOCKED", times=2)
    fake.fail_next("SendMessageRequest", "PEER_FLOOD")
    for expected in (errors.UserIsBlockedError, errors.UserIsBlockedError, errors.PeerFloodError):
        with pytest.raises(expected):
            await w(client.send_message(ann.input_peer, "hi"))
    await w(client.send_message(ann.input_peer, "hi"))
    assert len(fake.sent_to(ann)) == 1


async def test_revoked_session_gets_auth_key_unregistered(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    fake.revoke(account)
    with pytest.raises(errors.AuthKeyUnregisteredError):
        await w(client(functions.messages.SendMessageRequest(ann.input_peer, "hi", random_id=2)))
    assert await w(client.get_me()) is None


async def test_unsupported_methods_fail_fast_and_are_logged(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    client = await logged_in(make_client, fake, account)
    with caplog.at_level(logging.WARNING), pytest.raises(errors.BadRequestError) as caught:
        await w(client(functions.account.GetWebAuthorizationsRequest()))
    assert caught.value.message == "METHOD_NOT_SUPPORTED_BY_FAKE"
    assert fake.unsupported == ["GetWebAuthorizationsRequest"]
    assert "GetWebAuthorizationsRequest" in caplog.text


# --- sessions (authorizations) and logins from other devices ---


async def test_authorizations_list_every_session_of_the_account_the_caller_current(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    gateway = await logged_in(make_client, fake, account, device_model="Gateway", app_version="9")
    await logged_in(make_client, fake, account, device_model="Phone")
    listed = await w(gateway(functions.account.GetAuthorizationsRequest()))
    by_device = {a.device_model: a for a in listed.authorizations}
    assert set(by_device) == {"Gateway", "Phone"}
    assert by_device["Gateway"].current and not by_device["Phone"].current
    assert by_device["Gateway"].app_version == "9" and by_device["Gateway"].api_id == API_ID
    assert by_device["Gateway"].hash != by_device["Phone"].hash
    assert by_device["Gateway"].date_created is not None


async def test_resetting_a_session_closes_its_connections_and_unregisters_its_key(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    gateway = await logged_in(make_client, fake, account, device_model="Gateway")
    phone = await logged_in(make_client, fake, account, device_model="Phone")
    listed = await w(gateway(functions.account.GetAuthorizationsRequest()))
    other = next(a for a in listed.authorizations if a.device_model == "Phone")
    record = next(k for k in fake.account_keys(account) if k.auth_hash == other.hash)
    connections = [c for c in fake._connections if c.key is record]
    assert connections
    assert await w(gateway(functions.account.ResetAuthorizationRequest(hash=other.hash))) is True
    assert all(c.closed for c in connections)
    assert not fake.key_alive(record)
    with pytest.raises(errors.AuthKeyUnregisteredError):
        await w(phone(functions.updates.GetStateRequest()))
    left = await w(gateway(functions.account.GetAuthorizationsRequest()))
    assert [a.device_model for a in left.authorizations] == ["Gateway"]


async def test_resetting_an_unknown_or_the_own_session_is_hash_invalid(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    own = (await w(client(functions.account.GetAuthorizationsRequest()))).authorizations[0]
    for hash_ in (own.hash, 12345):
        with pytest.raises(errors.HashInvalidError):
            await w(client(functions.account.ResetAuthorizationRequest(hash=hash_)))
    assert await w(client.get_me()) is not None  # still logged in


async def test_a_young_session_may_not_reset_others_when_the_fake_says_so(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    other = fake.new_login(account)
    fake.fresh_reset_s = 24 * 3600
    with pytest.raises(errors.FreshResetAuthorisationForbiddenError):
        await w(client(functions.account.ResetAuthorizationRequest(hash=other.auth_hash)))
    assert fake.key_alive(other)


async def test_new_login_pushes_the_update_then_the_777000_notice(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    order: list[str] = []

    async def note(event: Any) -> None:
        order.append("notice" if isinstance(event, events.NewMessage.Event) else "update")

    client.add_event_handler(note, events.Raw(types.UpdateNewAuthorization))
    client.add_event_handler(note, events.NewMessage(incoming=True))
    raw = collect(client, events.Raw(types.UpdateNewAuthorization))
    messages = collect(client, events.NewMessage(incoming=True))
    record = fake.new_login(
        account, device="Pixel 8", location="Lisbon, Portugal", ip="198.51.100.4"
    )
    update = await w(raw.get())
    assert (update.hash, update.unconfirmed, update.device) == (record.auth_hash, True, "Pixel 8")
    assert update.location == "Lisbon, Portugal (IP = 198.51.100.4)" and update.date is not None
    notice = await w(messages.get())
    assert notice.sender_id == 777000
    assert notice.raw_text.startswith("New login. Dear Acme, we detected a login")
    assert "Location: Lisbon, Portugal (IP = 198.51.100.4)" in notice.raw_text
    assert order == ["update", "notice"]
    listed = await w(client(functions.account.GetAuthorizationsRequest()))
    new = next(a for a in listed.authorizations if a.hash == record.auth_hash)
    assert (new.device_model, new.country, new.region, new.ip) == (
        "Pixel 8",
        "Portugal",
        "Lisbon",
        "198.51.100.4",
    )
    assert new.official_app and not new.current


async def test_a_login_while_offline_leaves_only_the_notice_for_catch_up(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    state = await w(client(functions.updates.GetStateRequest()))
    await w(client.disconnect())
    fake.new_login(account, device="Pixel 8")  # nobody connected gets the update
    await w(client.connect())
    request = functions.updates.GetDifferenceRequest(pts=state.pts, date=state.date, qts=0)
    difference = await w(client(request))
    assert [m.peer_id.user_id for m in difference.new_messages] == [777000]
    assert not any(isinstance(u, types.UpdateNewAuthorization) for u in difference.other_updates)


# --- groups, contacts, profile ---


async def test_groups(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    admin = fake.add_person("4915100000009", first_name="Admin")
    chat_id = fake.add_group("Support team", admin, [account, ann])
    client = await logged_in(make_client, fake, account)

    dialogs = await w(client.get_dialogs())  # messages.getAllChats no longer exists
    chats = (await w(client(functions.messages.GetChatsRequest([chat_id])))).chats
    full = await w(client(functions.messages.GetFullChatRequest(chat_id)))
    await w(client.send_message(types.InputPeerChat(chat_id), "hello team"))

    assert [(d.entity.id, d.name, d.is_group) for d in dialogs] == [(chat_id, "Support team", True)]
    assert [(c.id, c.title) for c in chats] == [(chat_id, "Support team")]
    creator = [
        p
        for p in full.full_chat.participants.participants
        if isinstance(p, types.ChatParticipantCreator)
    ]
    assert [p.user_id for p in creator] == [admin.user_id]
    assert {u.phone for u in full.users} >= {admin.phone}
    assert [r.text for r in fake.sent_in_group(chat_id)] == ["hello team"]


async def test_contacts_and_profile(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)

    resolved = await w(client(functions.contacts.ResolvePhoneRequest(ann.phone)))
    imported = await w(
        client(
            functions.contacts.ImportContactsRequest(
                [
                    types.InputPhoneContact(
                        client_id=1, phone="+" + ann.phone, first_name="A", last_name=""
                    )
                ]
            )
        )
    )
    me = await w(
        client(functions.account.UpdateProfileRequest(first_name="ACME", about="Official"))
    )
    avatar = await w(client.upload_file(io.BytesIO(b"\xff\xd8avatar"), file_name="avatar.jpg"))
    uploaded = await w(client(functions.photos.UploadProfilePhotoRequest(file=avatar)))
    photos = await w(client.get_profile_photos("me"))

    assert resolved.peer.user_id == ann.user_id and resolved.users[0].access_hash == ann.access_hash
    assert [u.id for u in imported.users] == [ann.user_id]
    assert me.first_name == "ACME" and account.about == "Official"
    assert [p.id for p in photos] == [uploaded.photo.id]
    with pytest.raises(errors.PhoneNotOccupiedError):
        await w(client(functions.contacts.ResolvePhoneRequest("4915100000077")))


async def test_dialogs_and_history(
    fake: FakeTelegram, make_client: MakeClient, account: FakeUser, ann: FakeUser
) -> None:
    client = await logged_in(make_client, fake, account)
    ids = [fake.person_sends(ann, account, f"m{i}") for i in range(5)]

    dialogs = await w(client.get_dialogs())
    history = await w(client.get_messages(ann.input_peer, limit=10, min_id=ids[1]))

    assert [d.entity.id for d in dialogs] == [ann.user_id]
    assert dialogs[0].message.id == ids[-1] and dialogs[0].unread_count == 5
    assert [m.id for m in history] == ids[:1:-1]
    assert history[0].sender.access_hash == ann.access_hash


# --- protocol pieces Telethon itself does not exercise ---


def test_aes_ige_matches_telethon() -> None:
    key, iv, data = os.urandom(32), os.urandom(32), os.urandom(16 * 50)
    encrypted = ige_encrypt(data, key, iv)
    assert encrypted == AES.encrypt_ige(data, key, iv)
    assert ige_decrypt(encrypted, key, iv) == data


def test_handshake_accepts_rsa_pad_as_newer_clients_send_it() -> None:
    """Telethon 1.39-1.45 use the old SHA1 padding; RSA_PAD (core.telegram.org/mtproto/auth_key)
    is what current official clients send."""
    server_key = shared_server_key()
    handshake = Handshake(server_key)
    res_pq, _ = handshake.handle(functions.ReqPqMultiRequest(nonce=11))
    p, q = Factorization.factorize(int.from_bytes(res_pq.pq, "big"))
    p_bytes, q_bytes = p.to_bytes(4, "big"), q.to_bytes(4, "big")
    inner = bytes(
        types.PQInnerDataDc(
            pq=res_pq.pq,
            p=p_bytes,
            q=q_bytes,
            nonce=11,
            server_nonce=res_pq.server_nonce,
            new_nonce=22,
            dc=2,
        )
    )
    data_with_padding = inner + os.urandom(192 - len(inner))
    while True:
        temp_key = os.urandom(32)
        digest = hashlib.sha256(temp_key + data_with_padding).digest()
        aes_encrypted = AES.encrypt_ige(data_with_padding[::-1] + digest, temp_key, bytes(32))
        key_hash = hashlib.sha256(aes_encrypted).digest()
        temp_key_xor = bytes(a ^ b for a, b in zip(temp_key, key_hash, strict=True))
        value = int.from_bytes(temp_key_xor + aes_encrypted, "big")
        if value < server_key.n:
            break
    request = functions.ReqDHParamsRequest(
        nonce=11,
        server_nonce=res_pq.server_nonce,
        p=p_bytes,
        q=q_bytes,
        public_key_fingerprint=server_key.fingerprint,
        encrypted_data=pow(value, server_key.e, server_key.n).to_bytes(256, "big"),
    )

    answer, _ = handshake.handle(request)

    assert isinstance(answer, types.ServerDHParamsOk) and answer.nonce == 11
