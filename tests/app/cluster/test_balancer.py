"""The balancer's bookkeeping (app/cluster/balancer.py) over a real registry: what a process
may claim, what it hands over when another joins, and who counts as live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cluster.balancer import Balancer
from app.cluster.registry import Me, ProcessRegistry
from app.db import create_engine
from app.models import UTCDateTime, utcnow
from app.settings import Role


@pytest.fixture
async def engine(schema: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(schema)
    yield engine
    await engine.dispose()


def balancer(
    engine: AsyncEngine, name: str, instances: int, *, role: Role = "worker", cap: int | None = None
) -> Balancer:
    registry = ProcessRegistry(engine, Me(name, role, None, cap), ttl_s=30)
    return Balancer(registry, range(1, instances + 1), every_s=1)


async def test_alone_a_process_may_claim_every_instance(engine: AsyncEngine) -> None:
    alone = balancer(engine, "a", 3)
    await alone.beat()
    assert alone.share == 3
    assert [alone.claim(n) for n in (1, 2, 3)] == [True, True, True]


async def test_claims_stop_at_the_share_and_a_dropped_one_frees_a_place(
    engine: AsyncEngine,
) -> None:
    a, b = balancer(engine, "a", 4), balancer(engine, "b", 4)
    await a.beat()
    await b.beat()
    assert b.share == 2
    assert [b.claim(n) for n in (1, 2, 3)] == [True, True, False]
    b.drop(1)
    assert b.claim(3) is True
    assert b.owned == {2, 3}


async def test_a_process_joining_makes_the_others_hand_their_excess_over(
    engine: AsyncEngine,
) -> None:
    a = balancer(engine, "a", 4)
    await a.beat()
    for n in (1, 2, 3, 4):
        assert a.claim(n)
    await balancer(engine, "b", 4).beat()  # b registers
    await a.beat()
    assert a.share == 2
    assert [n for n in (1, 2, 3, 4) if a.handover_asked(n).is_set()] == [3, 4]
    # Asked once: the next round does not pick more while those two are on their way out.
    await a.beat()
    assert [n for n in (1, 2, 3, 4) if a.handover_asked(n).is_set()] == [3, 4]
    a.drop(3)
    a.drop(4)
    assert not a.handover_asked(3).is_set()
    assert a.owned == {1, 2}


async def test_api_processes_and_expired_rows_do_not_count(engine: AsyncEngine) -> None:
    await balancer(engine, "api", 0, role="api").beat()
    dead = balancer(engine, "dead", 6)
    await dead.beat()
    async with engine.begin() as conn:  # killed: its row was not renewed and expired
        expired = text("UPDATE cluster_process SET expires_at = :t WHERE id = 'dead'")
        expired = expired.bindparams(bindparam("t", type_=UTCDateTime))
        await conn.execute(expired, {"t": utcnow() - timedelta(minutes=1)})
    live = balancer(engine, "live", 6)
    await live.beat()
    assert sorted(p.id for p in live.live) == ["api", "live"]
    assert live.share == 6


async def test_a_capped_process_claims_no_more_than_its_cap(engine: AsyncEngine) -> None:
    capped = balancer(engine, "capped", 5, cap=2)
    await capped.beat()
    assert capped.share == 2
    assert [capped.claim(n) for n in (1, 2, 3)] == [True, True, False]


async def test_a_clean_stop_removes_the_row_at_once(engine: AsyncEngine) -> None:
    a, b = balancer(engine, "a", 4), balancer(engine, "b", 4)
    await a.beat()
    await b.beat()
    await b.registry.leave()
    await a.beat()
    assert [p.id for p in a.live] == ["a"]
    assert a.share == 4
