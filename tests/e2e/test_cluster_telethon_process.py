"""End to end: an `api` process and a `worker` process on one PostgreSQL database, one Telegram
account (the fake MTProto server). The api process has no connection to Telegram; a client's
reachability check and history backfill asked of it are answered by the worker, which holds
the session (app/cluster/forward.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.e2e.private_postgres import PrivatePostgres
from tests.e2e.test_serve_process import create_client
from tests.e2e.test_telethon_process import GATEWAY_PHONE, PERSON, telethon_harness, tgw
from tests.telegram.fake_mtproto import FakeTelegram
from tests.waiting import eventually


async def test_a_client_asking_the_api_process_gets_telegrams_answers_through_the_holder(
    tmp_path: Path, fake: FakeTelegram, private_postgres: PrivatePostgres
) -> None:
    account = fake.add_account(GATEWAY_PHONE, first_name="Acme")
    person = fake.add_person(PERSON, first_name="Ana")
    harness = telethon_harness(tmp_path, fake, database_url=private_postgres.url)
    try:
        code, out, err = await tgw(
            harness, "login", "--phone", GATEWAY_PHONE, stdin=f"{fake.login_code}\n"
        )
        assert code == 0, out + err
        harness.serve_args = ["--role", "api"]
        api_process = await harness.start()
        harness.serve_args = ["--role", "worker"]
        await harness.start()
        admin = harness.admin_headers
        async with httpx.AsyncClient(base_url=api_process.base_url, timeout=30) as http:

            async def held() -> bool:
                response = await http.get("/admin/cluster", headers=admin)
                return response.status_code == 200 and response.json()["unowned"] == []

            await eventually(held, "the worker to hold the session", timeout_s=30)
            client = await create_client(http, harness)
            fake.person_sends(person, account, "Hola")
            await eventually(lambda: fake.sent_to(person), "the registration reply", timeout_s=30)
            person.requires = "premium"  # Telegram now says: Premium accounts only
            one = await http.get(
                f"/api/v1/recipients/{PERSON}/reachability", params={"instance": 1}, headers=client
            )
            many = await http.post(
                "/api/v1/recipients/reachability",
                json={"instance": 1, "numbers": [PERSON]},
                headers=client,
            )
            backfill = await http.post(
                f"/api/v1/conversations/{PERSON}/backfill", params={"instance": 1}, headers=client
            )
            shown = (await http.get("/admin/instances/1", headers=admin)).json()
    finally:
        await asyncio.to_thread(harness.stop_all)  # the fake answers while they stop
    assert shown["session_owner"] == "another process"  # asked of the api process
    assert one.status_code == 200, one.text
    assert (one.json()["reachability"], one.json()["source"]) == ("premium_required", "telegram")
    assert many.status_code == 200, many.text
    assert many.json()["data"][0]["reachability"] == "premium_required"
    assert backfill.status_code == 200, backfill.text
    assert backfill.json()["scanned"] >= 2  # the Hola and the registration reply
    assert fake.requests_of("GetHistoryRequest")
