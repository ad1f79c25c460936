"""Outgoing targets (webhooks, media by URL): http(s) only; private, loopback and other
non-public addresses refused."""

from __future__ import annotations

import ipaddress

import pytest

from app.net.targets import (
    ForbiddenTarget,
    TargetError,
    UnresolvableHost,
    check_target,
    checked_addresses,
    embedded_ipv4,
    numeric_ipv4,
    system_resolver,
)


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


async def test_checked_addresses_are_what_the_one_lookup_answered() -> None:
    calls: list[str] = []

    async def resolve(host: str) -> list[str]:
        calls.append(host)
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

    found = await checked_addresses("media.example", allow_private=False, resolve=resolve)
    assert found == ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    assert calls == ["media.example"]


async def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(ForbiddenTarget, match=r"10\.0\.0\.8\).*\[media_fetch\] allow_private"):
        await checked_addresses(
            "media.example",
            allow_private=False,
            resolve=resolver("93.184.216.34", "10.0.0.8"),
            setting="[media_fetch] allow_private_targets",
        )


async def test_an_ip_literal_is_its_own_address_and_is_not_looked_up() -> None:
    async def never(host: str) -> list[str]:
        raise AssertionError("an IP literal was looked up")

    assert await checked_addresses("0x7f.1", allow_private=True, resolve=never) == ["127.0.0.1"]
    with pytest.raises(ForbiddenTarget, match=r"127\.0\.0\.1"):
        await checked_addresses("0x7f.1", allow_private=False, resolve=never)


async def test_a_host_without_addresses_is_unresolvable_not_forbidden() -> None:
    with pytest.raises(UnresolvableHost):
        await checked_addresses("nowhere.example", allow_private=True, resolve=resolver())


# --- every IPv6 form that carries an IPv4 address ----------------------------------------------

# (form, IPv6 address, embedded IPv4, allowed): each form around a private or loopback IPv4
# address, and around a public one (93.184.216.34). A public address is allowed only in the
# forms that mean "connect to that IPv4 host" (mapped, NAT64 well-known prefix, 6to4).
EMBEDDED = [
    ("mapped", "::ffff:127.0.0.1", "127.0.0.1", False),
    ("mapped", "::ffff:10.0.0.1", "10.0.0.1", False),
    ("mapped", "::ffff:93.184.216.34", "93.184.216.34", True),
    ("compatible", "::127.0.0.1", "127.0.0.1", False),
    ("compatible", "::192.168.0.1", "192.168.0.1", False),
    ("compatible", "::93.184.216.34", "93.184.216.34", False),
    ("translated", "::ffff:0:127.0.0.1", "127.0.0.1", False),
    ("translated", "::ffff:0:169.254.169.254", "169.254.169.254", False),
    ("translated", "::ffff:0:93.184.216.34", "93.184.216.34", False),
    ("6to4", "2002:7f00:1::", "127.0.0.1", False),
    ("6to4", "2002:a9fe:a9fe::1", "169.254.169.254", False),
    ("6to4", "2002:c0a8:1:1::1", "192.168.0.1", False),
    ("6to4", "2002:5db8:d822::1", "93.184.216.34", True),
    ("nat64", "64:ff9b::7f00:1", "127.0.0.1", False),
    ("nat64", "64:ff9b::a00:1", "10.0.0.1", False),
    ("nat64", "64:ff9b::5db8:d822", "93.184.216.34", True),
    ("nat64 local", "64:ff9b:1::7f00:1", "127.0.0.1", False),
    ("nat64 local", "64:ff9b:1::5db8:d822", "93.184.216.34", False),
    # Teredo: server 65.54.227.120 (public), client 192.0.2.45 obfuscated (bits inverted).
    ("teredo client", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45", False),
    # Server 127.0.0.1, client 93.184.216.34 (inverted: a247:2ddd).
    ("teredo server", "2001:0:7f00:1:8000:63bf:a247:2ddd", "127.0.0.1", False),
    ("teredo public", "2001:0:5db8:d822:8000:63bf:a247:2ddd", "93.184.216.34", False),
    ("isatap", "2606:2800:220:1:0:5efe:7f00:1", "127.0.0.1", False),
    ("isatap u/l bit", "2606:2800:220:1:200:5efe:a00:1", "10.0.0.1", False),
    ("isatap link-local", "fe80::5efe:c0a8:1", "192.168.0.1", False),
    ("isatap public", "2606:2800:220:1:200:5efe:5db8:d822", "93.184.216.34", True),
]


@pytest.mark.parametrize(("form", "address", "ipv4", "allowed"), EMBEDDED)
async def test_an_ipv6_form_is_judged_by_the_ipv4_address_it_carries(
    form: str, address: str, ipv4: str, allowed: bool
) -> None:
    url = "https://hooks.example.com/"
    check = check_target(url, allow_private=False, resolve=resolver(address))
    if allowed:
        assert await check == url
        return
    with pytest.raises(TargetError, match="allow_private_targets") as refused:
        await check
    assert address in str(refused.value)
    if not ipaddress.IPv4Address(ipv4).is_global:
        assert ipv4 in str(refused.value), form  # the reason names the hidden address


@pytest.mark.parametrize(("form", "address", "ipv4", "allowed"), EMBEDDED)
async def test_the_same_forms_as_literals_in_the_url(
    form: str, address: str, ipv4: str, allowed: bool
) -> None:
    url = f"http://[{address}]:8080/hook"
    check = check_target(url, allow_private=False, resolve=no_dns)
    if allowed:
        assert await check == url
    else:
        with pytest.raises(TargetError, match="allow_private_targets"):
            await check


@pytest.mark.parametrize(
    ("address", "found"),
    [
        ("::ffff:127.0.0.1", [("IPv4-mapped", "127.0.0.1")]),
        ("2002:7f00:1::", [("6to4", "127.0.0.1")]),
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            [("Teredo (server)", "65.54.227.120"), ("Teredo (client)", "192.0.2.45")],
        ),
        ("2606:2800:220:1:300:5efe:a00:1", [("ISATAP", "10.0.0.1")]),
        ("::1", []),  # loopback itself, not IPv4-compatible 0.0.0.1
        ("::", []),
        ("2606:2800:220:1:248:1893:25c8:1946", []),
    ],
)
def test_embedded_ipv4_finds_each_form(address: str, found: list[tuple[str, str]]) -> None:
    embedded = embedded_ipv4(ipaddress.IPv6Address(address))
    assert [(e.form, str(e.ipv4)) for e in embedded] == found


# --- numeric host names: what the resolver reads as IPv4 ---------------------------------------


async def no_dns(host: str) -> list[str]:
    raise AssertionError(f"{host!r} is an address: it needs no lookup")


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f000001",
        "017700000001",  # octal
        "0x7f.1",
        "127.1",
        "127.0.1",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.0.0.1.",  # the trailing dot of a fully qualified name
        "0x0a.0.0.1",
        "167772161",  # 10.0.0.1
        "0",
        "１２７．０．０．１",  # fullwidth: the socket layer's IDNA codec makes it 127.0.0.1
    ],
)
async def test_numeric_host_names_are_judged_as_the_ipv4_address_they_are(host: str) -> None:
    socket_form = host.encode("idna").decode() if not host.isascii() else host
    assert (await system_resolver(socket_form.removesuffix(".")))[0] == str(
        numeric_ipv4(socket_form)
    )  # the C resolver agrees on the address
    with pytest.raises(TargetError, match="allow_private_targets"):
        await check_target(f"http://{host}/hook", allow_private=False, resolve=no_dns)


async def test_a_public_numeric_host_is_accepted() -> None:
    url = "http://1572395042/hook"  # 93.184.216.34
    assert await check_target(url, allow_private=False, resolve=no_dns) == url


@pytest.mark.parametrize(
    "host", ["1.2.3.4.5", "999.0.0.1", "1.2.3.4294967296", "08.0.0.1", "1e2.1"]
)
async def test_a_host_that_ends_in_a_number_but_is_no_address_is_refused(host: str) -> None:
    with pytest.raises(TargetError, match=host.replace(".", r"\.")):
        await check_target(f"http://{host}/", allow_private=False, resolve=no_dns)


@pytest.mark.parametrize("host", ["hooks.example.com", "1.example.com", "0x7f.example"])
def test_dns_names_are_not_numeric(host: str) -> None:
    assert numeric_ipv4(host) is None
