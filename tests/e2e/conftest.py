"""Fixtures for every end-to-end module: `harness` (real `tgw serve` processes) and
`private_postgres` (a throwaway PostgreSQL cluster a test may stop and restart), `fake` (the fake
MTProto server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.private_postgres import private_postgres
from tests.e2e.test_serve_process import ServeHarness
from tests.telegram.fake_mtproto import FakeTelegram

__all__ = ["harness", "private_postgres"]

__all__ = ["harness", "private_postgres"]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ServeHarness]:
    serve = ServeHarness(tmp_path)
    try:
        yield serve
    finally:
        serve.stop_all()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The fake Telegram (real MTProto over TCP on 127.0.0.1) that `tgw` processes talk to."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is end-to-end: `-m e2e` selects them, `-m 'not e2e'` skips."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
