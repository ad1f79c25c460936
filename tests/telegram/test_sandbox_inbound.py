"""The sandbox's batched inbound path: group-committed writes, a pump that hands each batch of
updates to the processor at once, order and the registration dialogue kept, failures isolated."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import orjson
from sqlalchemy import select, text

from app.models import InboundMessage
from app.services import Services
from app.telegram.port import IncomingMessage, Update
from app.telegram.sandbox import InboundPerson, SandboxTelegram
from app.telegram.sandbox.tables import SandboxAccount
from tests.conftest import ADMIN


async def test_mixed_burst_keeps_order_and_dialogue(
    services: Services, http: httpx.AsyncClient
) -> None:
    # register A and B
    for n in ("34600000001", "34600000002"):
        r = await http.post(
            "/admin/sandbox/1/inbound",
            json={"from": {"number": n, "first_name": "X"}, "text": "Hi"},
            headers=ADMIN,
        )
        assert r.status_code == 200 and r.json()["handled"], r.text
    sandbox = services.telegram.sandboxes[1]
    await sandbox.stop()  # pile up updates while no pump runs
    people = ["34600000001", "34600000002", "34699999999"]  # the last is not registered
    sent = []
    for i in range(30):
        n = people[i % 3]
        txt = "Hola" if i == 10 else f"m{i}"
        mid, uid = await sandbox.inbound(InboundPerson(number=n, first_name=f"N{i}"), text=txt)
        sent.append((n, txt, mid))
    from inbound.processor import InboundProcessor

    proc = InboundProcessor(
        1,
        services.database,
        services.settings,
        services.wakeup,
        services.clock,
        services.stamps,
    )
    await sandbox.start(proc)
    assert await sandbox.wait_consumed(uid, 10)
    async with services.database.read() as s:
        rows = (
            await s.execute(
                select(
                    InboundMessage.telegram_message_id,
                    InboundMessage.handling,
                    InboundMessage.number,
                )
            )
        ).all()
        events = (
            await s.execute(
                text("select seq, payload from event where type='message.received' order by seq")
            )
        ).all()
    handling = {r[0]: r[1] for r in rows}
    assert len([r for r in rows if r[0] >= sent[0][2]]) == 30
    got = [orjson.loads(p)["top"]["message"] for _, p in events]
    expected = [t for n, t, _ in sent if n != "34699999999" and t != "Hola"]
    assert got == expected
    assert handling[sent[10][2]] == "registration"
    assert all(handling[m] == "ignored" for n, t, m in sent if n == "34699999999")
    # names refreshed to the latest
    async with services.database.read() as s:
        names = dict((await s.execute(text("select number, first_name from recipient"))).all())
        users = dict((await s.execute(text("select number, first_name from sandbox_user"))).all())
    assert names["34600000001"] == "N27" and names["34600000002"] == "N28", names
    assert users["34699999999"] == "N29"
    await sandbox.stop()
    async with services.database.read() as s:
        acct = await s.get(SandboxAccount, 1)
    assert acct is not None and acct.consumed_update_id == uid


class Flaky:
    """An update handler (idempotent, as the port asks) for which the message `bad_text`
    always fails. A batch holding it fails: with `fail_batch` before anything is handled, else
    after the messages before it are. `calls` counts the tries of the bad message alone."""

    def __init__(self, bad_text: str, fail_batch: bool) -> None:
        self.bad = bad_text
        self.fail_batch = fail_batch
        self.seen: list[str] = []
        self.calls = 0
        self.batches: list[int] = []

    async def __call__(self, updates: Sequence[Update]) -> None:
        messages = [update for update in updates if isinstance(update, IncomingMessage)]
        assert len(messages) == len(updates)
        if len(messages) > 1:
            self.batches.append(len(messages))
            if self.fail_batch and any(m.text == self.bad for m in messages):
                raise RuntimeError("batch boom")
        for m in messages:
            if m.text == self.bad:
                self.calls += len(messages) == 1
                raise RuntimeError("boom")
            if m.text not in self.seen:
                self.seen.append(m.text)


async def _run_flaky(services: Services, fail_batch: bool) -> Flaky:
    sb = SandboxTelegram(
        1, services.database, services.wakeup, services.clock, poll_interval_s=0.01
    )
    await sb.ensure_account()
    last = 0
    for i in range(12):
        _, last = await sb.inbound(InboundPerson(number=f"3460000000{i % 3}"), text=f"t{i}")
    handler = Flaky("t5", fail_batch)
    await sb.start(handler)
    assert await sb.wait_consumed(last, 10)
    await sb.stop()
    assert handler.seen == [f"t{i}" for i in range(12) if i != 5]
    return handler


async def test_a_failing_update_is_skipped_after_five_tries(services: Services) -> None:
    h = await _run_flaky(services, fail_batch=False)
    assert h.calls == 5, h.calls  # t5 alone, five times
    assert h.batches[0] == 12


async def test_a_failing_batch_falls_back_to_one_by_one(services: Services) -> None:
    h = await _run_flaky(services, fail_batch=True)
    assert h.calls >= 5


async def test_bad_input_is_400_and_writes_nothing(
    services: Services, http: httpx.AsyncClient
) -> None:
    r = await http.post(
        "/admin/sandbox/1/inbound", json={"from": {"number": "34600000001"}}, headers=ADMIN
    )
    assert r.status_code == 400, r.text
    r = await http.post(
        "/admin/sandbox/1/inbound",
        json={"from": {"number": "34600000001"}, "media": {"kind": "photo", "base64": "!!"}},
        headers=ADMIN,
    )
    assert r.status_code == 400, r.text
    r = await http.post(
        "/admin/sandbox/1/inbound",
        json={"from": {"number": "34600000001"}, "contact": {"number": "abc"}},
        headers=ADMIN,
    )
    assert r.status_code == 400, r.text
    async with services.database.read() as s:
        assert (await s.execute(text("select count(*) from sandbox_message"))).scalar() == 0
        assert (await s.execute(text("select count(*) from sandbox_update"))).scalar() == 0
    r = await http.post(
        "/admin/sandbox/1/inbound",
        json={"from": {"number": "34600000001"}, "text": "x"},
        headers=ADMIN,
    )
    assert r.status_code == 200 and r.json()["message_id"] == 1, r.text


async def test_one_bad_row_fails_alone(services: Services) -> None:
    sb = services.telegram.sandboxes[1]
    await sb.ensure_account()
    good = [sb.inbound(InboundPerson(number=f"3460000000{i}"), text=f"g{i}") for i in range(4)]
    # a reply_to the database refuses (out of BIGINT range on PostgreSQL; text on SQLite is fine)
    bad = sb.inbound(InboundPerson(number="34600000009"), text="bad", reply_to=2**70)
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    assert all(isinstance(r, tuple) for r in results[:4]), results
    ids = [r[0] for r in results[:4] if isinstance(r, tuple)]
    assert len(set(ids)) == 4  # one batch, distinct message ids, in request order
    if services.database.engine.dialect.name == "postgresql":
        assert isinstance(results[4], Exception), results[4]
