"""The fake Telegram (real MTProto over TCP on 127.0.0.1) for the Telethon tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.telegram.fake_mtproto import FakeTelegram


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()
