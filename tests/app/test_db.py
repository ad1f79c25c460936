from __future__ import annotations

from typing import Any

import httpx

from app.services import Services
from tests.conftest import say


async def test_background_checkpoint_copies_the_wal_into_the_database(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await say(http, "34612345678", "Hi")
    for i in range(20):
        response = await http.post(
            "/v3/telegram/single/text/message/1",
            json={"number": "34612345678", "message": f"m{i}"},
            headers=api_client,
        )
        assert response.status_code == 200
    result: Any = await services.background_sql.checkpoint()
    if services.engine.dialect.name != "sqlite":
        assert result is None  # PostgreSQL manages its own log
        return
    busy, wal_frames, copied = result
    assert busy == 0
    assert wal_frames > 0 and copied == wal_frames  # commits left the WAL to this checkpoint
