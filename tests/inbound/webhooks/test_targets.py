"""Webhook targets: http(s) only; private, loopback and other non-public addresses refused."""

from __future__ import annotations

import pytest

from inbound.webhooks.targets import TargetError, check_target


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str) -> list[str]:
        return list(addresses)

    return resolve


PUBLIC = resolver("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")


async def test_a_public_https_url_is_accepted() -> None:
    url = "https://hooks.example.com/tgw?x=1"
    assert await check_target(url, allow_private=False, resolve=PUBLIC) == url


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.5",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "::1",
        "fe80::1",
        "fc00::1",
        "224.0.0.1",
        "0.0.0.0",
        "100.64.0.1",  # carrier-grade NAT
        "::ffff:127.0.0.1",
        "240.0.0.1",
    ],
)
async def test_a_name_resolving_to_a_non_public_address_is_refused(address: str) -> None:
    with pytest.raises(TargetError, match="allow_private_targets"):
        await check_target(
            "https://hooks.example.com/", allow_private=False, resolve=resolver(address)
        )


async def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(TargetError, match=r"10\.0\.0\.1"):
        await check_target(
            "https://hooks.example.com/",
            allow_private=False,
            resolve=resolver("93.184.216.34", "10.0.0.1"),
        )


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "http://[::1]/hook", "http://10.0.0.7/"]
)
async def test_literal_private_addresses_are_refused_without_resolving(url: str) -> None:
    async def no_dns(host: str) -> list[str]:
        raise AssertionError("an IP literal needs no lookup")

    with pytest.raises(TargetError, match=r"private|loopback"):
        await check_target(url, allow_private=False, resolve=no_dns)


async def test_allow_private_targets_lets_loopback_through() -> None:
    url = "http://127.0.0.1:9000/hook"
    assert await check_target(url, allow_private=True, resolve=resolver()) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://", "no host"),
        ("hooks.example.com/x", "http:// or https://"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/" + "a" * 3000, "longer than"),
        ("", "non-empty"),
        (42, "non-empty string"),
    ],
)
async def test_malformed_urls_are_refused_with_the_reason(url: object, why: str) -> None:
    with pytest.raises(TargetError, match=why):
        await check_target(url, allow_private=True, resolve=PUBLIC)


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetError, match="does not resolve"):
        await check_target("https://nowhere.example/", allow_private=False, resolve=resolver())
