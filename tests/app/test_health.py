from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import drain, say


async def test_healthz_and_readyz_answer_without_auth(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_metrics_show_accepted_messages_and_the_queue(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    await say(http, "34612345678", "Hi")
    await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": "34612345678", "message": "x"},
        headers=api_client,
    )
    queued = (await http.get("/metrics")).text
    assert 'tgw_queue_messages{instance="1",status="queued"} 2.0' in queued
    await drain(worker)
    text = (await http.get("/metrics")).text
    # A queue that emptied reads 0, not its last count.
    assert 'tgw_queue_messages{instance="1",status="queued"} 0.0' in text
    assert 'tgw_messages_accepted_total{kind="text"} 1.0' in text
    assert 'tgw_queue_messages{instance="1",status="sent"} 2.0' in text  # the reply and ours
    assert 'tgw_instance_up{instance="1"} 1.0' in text


async def test_legacy_status_reads_up_for_a_ready_instance(
    http: httpx.AsyncClient, api_client: dict[str, str]
) -> None:
    response = await http.get("/v1/telegram/status/1", headers=api_client)
    assert response.json() == {"status": "up", "instance": 1}
    missing = await http.get("/v1/telegram/status/7", headers=api_client)
    assert missing.status_code == 404 and "error_message" in missing.json()
