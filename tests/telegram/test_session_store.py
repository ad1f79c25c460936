"""The Telethon session kept in the database: real Telethon session objects, real databases."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from telethon.crypto import AuthKey
from telethon.tl import types

from app.models import TelegramSession
from app.sealing import SealError
from app.services import Services
from app.telegram.session_store import SessionStore, SessionWriter
from app.telegram.telethon import DatabaseSession


def customer() -> Any:
    return types.User(
        id=555000111,
        access_hash=-8_123_456_789,
        first_name="Ana",
        phone="34612345678",
        username="ana_es",
    )


async def saved_session(services: Services, secret: str = "k") -> tuple[SessionStore, bytes]:
    store = SessionStore(services.database, secret, services.clock)
    session = DatabaseSession(SessionWriter(store, 1))
    session.set_dc(2, "10.0.0.7", 4430)  # a self-hosted server: any address, not only an IP of DC2
    key = os.urandom(256)
    session.auth_key = AuthKey(key)
    session.process_entities(
        types.contacts.ResolvedPeer(peer=types.PeerUser(555000111), chats=[], users=[customer()])
    )
    session.set_update_state(
        0,
        types.updates.State(
            pts=41, qts=3, date=datetime(2026, 11, 25, tzinfo=UTC), seq=7, unread_count=0
        ),
    )
    session.save()
    await session._writer.flush()
    return store, key


async def test_a_restarted_gateway_finds_the_login_update_state_and_entities(
    services: Services,
) -> None:
    store, key = await saved_session(services)
    restored = DatabaseSession(SessionWriter(store, 1), await store.load(1))
    assert restored.auth_key.key == key
    assert (restored.dc_id, restored.server_address, restored.port) == (2, "10.0.0.7", 4430)
    peer = restored.get_input_entity(555000111)
    assert isinstance(peer, types.InputPeerUser) and peer.access_hash == -8_123_456_789
    states = dict(restored.get_update_states())
    assert (states[0].pts, states[0].qts, states[0].seq) == (41, 3, 7)


async def test_the_auth_key_is_not_readable_in_the_database(services: Services) -> None:
    _, key = await saved_session(services)
    async with services.database.read() as session:
        sealed = (await session.scalars(select(TelegramSession.sealed))).one()
    assert key not in sealed and key[:32] not in sealed


async def test_another_secret_key_cannot_open_the_session(services: Services) -> None:
    await saved_session(services, secret="right")
    with pytest.raises(SealError):
        await SessionStore(services.database, "wrong", services.clock).load(1)


async def test_log_out_forgets_the_session(services: Services) -> None:
    store, _ = await saved_session(services)
    session = DatabaseSession(SessionWriter(store, 1), await store.load(1))
    session.delete()
    await session._writer.flush()
    assert await store.load(1) is None


async def test_the_newest_of_several_quick_saves_is_what_stays(services: Services) -> None:
    store = SessionStore(services.database, "k", services.clock)
    writer = SessionWriter(store, 1)
    session = DatabaseSession(writer)
    for port in (1, 2, 3):
        session.set_dc(2, "127.0.0.1", port)
        session.save()
    await writer.flush()
    loaded = await store.load(1)
    assert loaded is not None and loaded["port"] == 3
