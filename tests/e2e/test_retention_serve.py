"""A real `tgw serve --sandbox` runs the retention job from its lifespan: an idempotency key
older than the window, written into its database, is deleted, and /metrics counts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import create_engine, func, insert, select

from app.models import IdempotencyRecord, table_of
from tests.e2e.test_serve_process import ServeHarness
from tests.waiting import eventually

K = table_of(IdempotencyRecord)
COUNTED = 'tgw_retention_deleted_total{table="idempotency_record"} 1.0'


async def test_serve_deletes_an_old_idempotency_key_on_its_own(harness: ServeHarness) -> None:
    harness.write_config(retention={"interval_s": 1, "pause_s": 0})
    server = await harness.start()
    engine = create_engine(f"sqlite:///{harness.db_path}")
    now = datetime.now(UTC)
    row = {"request_hash": "0" * 64, "status_code": 200, "response_body": "{}"}
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(K),
                [
                    {**row, "client_id": "c", "key": "old", "created_at": now - timedelta(days=2)},
                    {**row, "client_id": "c", "key": "new", "created_at": now},
                ],
            )
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as http:

            async def counted() -> bool | None:
                return COUNTED in (await http.get("/metrics")).text or None

            await eventually(counted, "the retention job's deletion in /metrics", timeout_s=20.0)
        with engine.connect() as conn:
            keys = list(conn.execute(select(K.c.key)).scalars())
            assert keys == ["new"]
            assert conn.execute(select(func.count()).select_from(K)).scalar() == 1
    finally:
        engine.dispose()
