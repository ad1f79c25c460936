"""Media by URL (POST /api/v1/messages with media.url): fetched from a real local origin before
the 202, through the SSRF guard and pinned connections, with its size limit, deadline and the
content checks of base64 media."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import pytest

from app.net.targets import UnresolvableHost, system_resolver
from app.services import Services
from app.settings import LimitsSettings, MediaFetchSettings
from outbound.fetch import MediaFetcher, MediaUrl
from tests.app.net.origin import (
    PNG,
    PUBLIC,
    Answers,
    RoutedNetwork,
    drip,
    endless,
    file,
    raw,
    redirect,
    running,
    status,
)
from tests.conftest import ADMIN, drain, say

NUMBER = "34612345678"
DOCUMENT_LIMIT = 3 * 1024 * 1024  # [limits] document_bytes, the default
FETCH_TIMEOUT_S = 1.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"media_fetch": {"timeout_s": FETCH_TIMEOUT_S}}


@pytest.fixture
def network(services: Services) -> RoutedNetwork:
    """media.example and cdn.example are public hosts, served by this test's origin."""
    routed = RoutedNetwork()
    services.network = routed
    services.resolve_host = Answers([PUBLIC])
    return routed


async def send(
    http: httpx.AsyncClient, headers: dict[str, str], url: str, kind: str = "image", **media: Any
) -> httpx.Response:
    body = {"instance": 1, "to": NUMBER, "media": {"kind": kind, "url": url, **media}}
    return await http.post("/api/v1/messages", json=body, headers=headers)


def refused(response: httpx.Response, status_code: int, code: str) -> str:
    assert response.status_code == status_code, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


async def test_an_image_by_url_is_sent_with_the_sha256_of_the_file(
    http: httpx.AsyncClient, api_client: dict[str, str], worker: Any, network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(cat_png=file(PNG, "image/png")) as origin:
        url = f"http://media.example:{origin.port}/cat.png"
        response = await send(http, api_client, url, caption="a cat")
    assert response.status_code == 202, response.text
    message = response.json()
    assert message["filename"] == "cat.png"
    assert message["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert origin.requests[0].host == f"media.example:{origin.port}"
    await drain(worker)
    sent = (await http.get(f"/admin/sandbox/1/sent?number={NUMBER}", headers=ADMIN)).json()
    image = sent["data"][-1]
    assert (image["kind"], image["caption"]) == ("image", "a cat")
    assert image["sha256"] == hashlib.sha256(PNG).hexdigest()


async def test_the_connection_goes_to_the_address_that_was_checked(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, network: RoutedNetwork
) -> None:
    # A rebinding name: public for the first lookup, loopback for any later one.
    services.resolve_host = resolver = Answers([PUBLIC], ["127.0.0.1"])
    await say(http, NUMBER, "Hi")
    async with running(cat_png=file(PNG)) as origin:
        response = await send(http, api_client, f"http://media.example:{origin.port}/cat.png")
    assert response.status_code == 202, response.text
    assert resolver.calls == ["media.example"]  # resolved once, by the connection itself
    assert network.connects == [(PUBLIC, origin.port)]  # the checked IP, not the name


async def test_dns_rebinding_between_redirect_hops_cannot_reach_a_private_address(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, network: RoutedNetwork
) -> None:
    services.resolve_host = Answers([PUBLIC], ["127.0.0.1"])
    await say(http, NUMBER, "Hi")
    async with running(cat_png=file(PNG)) as origin:
        origin.routes["/go"] = redirect(f"http://media.example:{origin.port}/cat.png")
        response = await send(http, api_client, f"http://media.example:{origin.port}/go")
    message = refused(response, 400, "media_target_forbidden")
    assert "127.0.0.1" in message and "[media_fetch] allow_private_targets" in message
    assert network.connects == [(PUBLIC, origin.port)]
    assert origin.paths() == ["/go"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cat.png",
        "http://10.1.2.3:{port}/cat.png",
        "http://[::1]:{port}/cat.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433:{port}/cat.png",  # 127.0.0.1 spelt as a number
        "http://private.example:{port}/cat.png",
    ],
)
async def test_a_private_target_is_refused_and_never_connected_to(
    http: httpx.AsyncClient,
    api_client: dict[str, str],
    services: Services,
    network: RoutedNetwork,
    url: str,
) -> None:
    services.resolve_host = Answers(["10.0.0.8"])
    await say(http, NUMBER, "Hi")
    async with running(cat_png=file(PNG)) as origin:
        response = await send(http, api_client, url.format(port=origin.port))
    refused(response, 400, "media_target_forbidden")
    assert network.connects == []
    assert origin.requests == []
    listed = await http.get("/api/v1/messages", headers=api_client)
    assert listed.json()["data"] == []  # nothing was accepted


async def test_a_redirect_to_a_private_address_is_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(cat_png=file(PNG)) as origin:
        origin.routes["/go"] = redirect(f"http://127.0.0.1:{origin.port}/cat.png")
        response = await send(http, api_client, f"http://media.example:{origin.port}/go")
    message = refused(response, 400, "media_target_forbidden")
    assert "redirect" in message
    assert origin.paths() == ["/go"]


async def test_a_redirect_to_a_public_address_is_followed(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(cat_png=file(PNG)) as origin:
        origin.routes["/go"] = redirect(f"http://cdn.example:{origin.port}/cat.png", 301)
        response = await send(http, api_client, f"http://media.example:{origin.port}/go")
    assert response.status_code == 202, response.text
    assert [(seen.path, seen.host) for seen in origin.requests] == [
        ("/go", f"media.example:{origin.port}"),
        ("/cat.png", f"cdn.example:{origin.port}"),
    ]
    assert response.json()["filename"] == "go.png"  # the given URL's name, the bytes' type


async def test_more_redirects_than_allowed_are_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running() as origin:
        origin.routes["/go"] = redirect("/go")
        response = await send(http, api_client, f"http://media.example:{origin.port}/go")
    assert "max_redirects" in refused(response, 400, "media_origin_error")
    assert len(origin.requests) == 4  # the first request and max_redirects (3) more


async def test_an_oversized_file_is_refused_without_reading_it_all(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(big_pdf=endless()) as origin:
        url = f"http://media.example:{origin.port}/big.pdf"
        response = await send(http, api_client, url, kind="document")
    assert "larger than the limit" in refused(response, 413, "payload_too_large")
    # The origin would have sent 256 MiB; reading stopped at the limit (what is in flight in
    # the socket buffers aside).
    assert origin.sent < 4 * DOCUMENT_LIMIT


async def test_a_declared_oversized_file_is_refused_before_its_body_is_read(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(big_pdf=endless(declared=100 * DOCUMENT_LIMIT)) as origin:
        url = f"http://media.example:{origin.port}/big.pdf"
        response = await send(http, api_client, url, kind="document")
    refused(response, 413, "payload_too_large")
    assert origin.sent < 4 * DOCUMENT_LIMIT


async def test_a_server_that_drips_its_answer_times_out_within_the_deadline(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(slow_png=drip()) as origin:
        started = time.monotonic()
        response = await send(http, api_client, f"http://media.example:{origin.port}/slow.png")
        elapsed = time.monotonic() - started
    assert "timeout_s" in refused(response, 400, "media_fetch_timeout")
    assert elapsed < FETCH_TIMEOUT_S + 5


async def test_bytes_of_another_kind_are_refused_as_base64_media_are(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(cat_png=file(b"<html>not a cat</html>", "image/png")) as origin:
        response = await send(http, api_client, f"http://media.example:{origin.port}/cat.png")
    refused(response, 400, "media_type_mismatch")


async def test_an_error_status_of_the_origin_is_answered_with_that_status(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(gone_png=status(404)) as origin:
        response = await send(http, api_client, f"http://media.example:{origin.port}/gone.png")
    assert "answered 404" in refused(response, 400, "media_origin_error")


async def test_an_empty_file_is_refused_as_missing_media(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(empty_png=file(b"")) as origin:
        response = await send(http, api_client, f"http://media.example:{origin.port}/empty.png")
    refused(response, 470, "media_missing")


@pytest.mark.parametrize(
    "url", ["ftp://media.example/cat.png", "file:///etc/passwd", "media.example/cat.png"]
)
async def test_only_http_and_https_urls_are_accepted(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork, url: str
) -> None:
    await say(http, NUMBER, "Hi")
    message = refused(await send(http, api_client, url), 400, "invalid_field")
    assert "'media.url' must start with http:// or https://" in message
    assert network.connects == []


async def test_a_host_that_does_not_resolve_is_unreachable(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, network: RoutedNetwork
) -> None:
    async def nxdomain(host: str) -> list[str]:
        raise UnresolvableHost(f"the host {host!r} does not resolve: Name or service not known")

    services.resolve_host = nxdomain
    await say(http, NUMBER, "Hi")
    response = await send(http, api_client, "https://nowhere.example/cat.png")
    assert "does not resolve" in refused(response, 400, "media_unreachable")


async def test_a_refused_connection_is_unreachable(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, network: RoutedNetwork
) -> None:
    services.resolve_host = Answers(["93.184.216.99"])  # public, and nothing listens there
    await say(http, NUMBER, "Hi")
    response = await send(http, api_client, "https://media.example/cat.png")
    assert "Connection refused" in refused(response, 400, "media_unreachable")


async def test_base64_and_url_together_are_refused(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    await say(http, NUMBER, "Hi")
    response = await send(http, api_client, "https://media.example/cat.png", base64="AAAA")
    assert "not both" in refused(response, 400, "invalid_field")
    assert network.connects == []


async def test_a_document_is_named_after_the_url_unless_a_filename_is_given(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    await say(http, NUMBER, "Hi")
    async with running() as origin:
        url = f"http://media.example:{origin.port}/files/report%20Q3.pdf?token=1"
        origin.routes["/files/report%20Q3.pdf"] = file(pdf)
        origin.routes["/download"] = file(pdf)
        named = await send(http, api_client, url, kind="document")
        given = await send(http, api_client, url, kind="document", filename="q3.pdf")
        typed = await send(
            http, api_client, f"http://media.example:{origin.port}/download", kind="document"
        )
    assert named.status_code == 202, named.text
    assert named.json()["filename"] == "report Q3.pdf"
    assert given.json()["filename"] == "q3.pdf"
    assert typed.json()["filename"] == "download.pdf"  # no extension: the bytes' type gives one


async def test_an_unknown_instance_is_refused_before_anything_is_fetched(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork
) -> None:
    body = {"instance": 9, "to": NUMBER, "media": {"kind": "image", "url": "https://a.example/"}}
    response = await http.post("/api/v1/messages", json=body, headers=api_client)
    refused(response, 404, "unknown_instance")
    assert network.connects == []


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://%zz/x",
        "http://a.example:99999/x",
        "http://[fe80::1%25eth0]/x",
        "http://" + "a" * 70 + ".example/x",  # a DNS label over 63 characters
        "http://1.2.3.4.5/x",
        "http://\u00e9t\u00e9.example/x",
        "http://xn--/x",
        "http://.../x",
        "https://media.example:0/x",
        "http://user:pw@media.example/x",
        7,
        "",
    ],
)
async def test_an_odd_url_is_a_clear_4xx_never_a_server_error(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork, url: object
) -> None:
    await say(http, NUMBER, "Hi")
    response = await send(http, api_client, url)  # type: ignore[arg-type]
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    "location",
    ["ftp://media.example/x", "http://xn--/x", "http://[::1", "http://a.example:99999/", ""],
)
async def test_a_redirect_to_an_odd_location_is_a_clear_4xx(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork, location: str
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(go=redirect(location)) as origin:
        response = await send(http, api_client, f"http://media.example:{origin.port}/go")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("invalid_field", "media_origin_error")
    assert origin.paths() == ["/go"]


@pytest.mark.parametrize(
    "answer",
    [
        b"",  # closes without a word
        b"this is not HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n\x89PNG",  # breaks off
    ],
)
async def test_a_broken_answer_of_the_origin_is_media_origin_error(
    http: httpx.AsyncClient, api_client: dict[str, str], network: RoutedNetwork, answer: bytes
) -> None:
    await say(http, NUMBER, "Hi")
    async with running(cat_png=raw(answer)) as origin:
        response = await send(http, api_client, f"http://media.example:{origin.port}/cat.png")
    refused(response, 400, "media_origin_error")


async def test_with_allow_private_targets_a_local_server_is_fetched_over_the_real_network() -> None:
    fetcher = MediaFetcher(
        MediaFetchSettings(allow_private_targets=True), LimitsSettings(), system_resolver
    )
    async with running(cat_png=file(PNG)) as origin:
        media = await fetcher.fetch(
            MediaUrl("image", f"http://localhost:{origin.port}/cat.png", None)
        )
    assert media.sha256 == hashlib.sha256(PNG).hexdigest()
    assert (media.filename, media.mime_type) == ("cat.png", "image/png")
