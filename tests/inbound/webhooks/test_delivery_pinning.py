"""Webhook deliveries over the worker's real client (app.main.webhook_client): every connection
goes to an address checked as it is made, so a name that turns private after the check (DNS
rebinding) cannot be reached."""

from __future__ import annotations

from typing import Any

import pytest

from app.main import make_delivery_worker, webhook_client
from app.services import Services
from tests.app.net.origin import PUBLIC, Answers, RoutedNetwork, running, status
from tests.conftest import Clock
from tests.inbound.webhooks.helpers import add_endpoint, deliveries, now_clock, write_event


@pytest.fixture
def clock() -> Clock:
    return now_clock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"webhook_delivery": {"retry_schedule_s": [5.0], "timeout_s": 5}}


@pytest.fixture
def network(services: Services) -> RoutedNetwork:
    routed = RoutedNetwork()
    services.network = routed
    return routed


async def deliver_once(services: Services) -> None:
    async with webhook_client(services) as client:
        assert await make_delivery_worker(services, client).step() == 1


async def test_a_delivery_connects_to_the_checked_address_with_the_hosts_name(
    services: Services, network: RoutedNetwork
) -> None:
    services.resolve_host = Answers([PUBLIC])
    async with running(tgw=status(200)) as origin:
        endpoint_id, _ = await add_endpoint(services, f"http://hooks.example:{origin.port}/tgw")
        await write_event(services)
        await deliver_once(services)
    assert [d.status for d in await deliveries(services, endpoint_id)] == ["delivered"]
    assert network.connects == [(PUBLIC, origin.port)]
    assert [seen.host for seen in origin.requests] == [f"hooks.example:{origin.port}"]


async def test_dns_rebinding_after_the_check_cannot_reach_a_private_address(
    services: Services, network: RoutedNetwork
) -> None:
    # Public for the attempt's check, loopback when the connection is made: where a client
    # that resolved the name again itself would connect.
    services.resolve_host = resolver = Answers([PUBLIC], ["127.0.0.1"])
    async with running(tgw=status(200)) as origin:
        endpoint_id, _ = await add_endpoint(services, f"http://hooks.example:{origin.port}/tgw")
        await write_event(services)
        await deliver_once(services)
    assert len(resolver.calls) == 2
    assert network.connects == []
    assert origin.requests == []
    [row] = await deliveries(services, endpoint_id)
    assert row.status == "pending"
    assert row.last_error is not None
    assert "target refused" in row.last_error and "127.0.0.1" in row.last_error


async def test_a_literal_private_address_is_refused_by_the_connection_too(
    services: Services, network: RoutedNetwork
) -> None:
    # The pinned client on its own, without the attempt's check: the connection refuses.
    services.resolve_host = Answers([PUBLIC])
    async with running(tgw=status(200)) as origin, webhook_client(services) as client:
        with pytest.raises(ValueError, match="private and loopback targets are refused"):
            await client.post(f"http://127.0.0.1:{origin.port}/tgw", content=b"{}")
    assert network.connects == []
    assert origin.requests == []
