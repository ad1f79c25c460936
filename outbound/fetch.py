"""Media by URL: a native send's `media.url`, fetched before the send is accepted.

The body's check (`media_url`, pure, while the body is validated) only reads the URL's shape;
`MediaFetcher.fetch` then downloads the file, and the send is accepted (on disk, 202) only
once the file is here and has passed the same content checks as a base64 medium
(`validation.check_media`). So every problem with the URL is the sender's answer, never a
failed message later.

The download goes through the core's pinned client (app/net/pinned.py): every connection, the
first one and each redirect's, is made to an address checked as it is made, under
`[media_fetch] allow_private_targets`. Redirects are followed here, hop by hop (each hop's URL
checked again), at most `max_redirects`. The size limit of the kind is applied while the body
streams in (reading stops at limit + 1 bytes) and the whole fetch has one deadline
(`timeout_s`), so a large or endless answer costs at most the limit and the deadline.

Every failure is an ApiError of its own code (docs/errors.md): `invalid_field` (not an http(s)
URL), `media_target_forbidden`, `media_unreachable`, `media_origin_error` (an error status,
too many redirects, an answer that breaks off), `media_fetch_timeout`, `payload_too_large`,
`media_missing` (an empty file) and the content checks' own codes.
"""

from __future__ import annotations

import asyncio
import posixpath
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from app.errors import ApiError
from app.net.pinned import Pinning, pinned_client
from app.net.targets import (
    ForbiddenTarget,
    Resolver,
    TargetError,
    UnresolvableHost,
    check_url_shape,
)
from app.settings import LimitsSettings, MediaFetchSettings
from app.telegram.port import MediaKind
from outbound.validation import CheckedMedia, check_filename, check_media, limit_for

FIELD = "media.url"
SETTING = "[media_fetch] allow_private_targets"
USER_AGENT = "tgw-media-fetch/1"
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class MediaUrl:
    """A medium that is still at its URL: what the body said about it, checked so far."""

    kind: MediaKind
    url: str
    # The name the sender gave (cleaned), or None: taken from the URL or the bytes' type.
    filename: str | None


def media_url(kind: MediaKind, spec: Mapping[str, object]) -> MediaUrl:
    """The `media` object of a native send that gives `url` (its `kind` already checked)."""
    if spec.get("base64") is not None:
        raise ApiError("invalid_field", "'media' takes either 'base64' or 'url', not both")
    url = spec.get("url")
    try:
        check_url_shape(url, FIELD)
    except TargetError as exc:
        raise ApiError("invalid_field", str(exc)) from None
    assert isinstance(url, str)
    return MediaUrl(kind, url, check_filename(spec.get("filename"), required=False))


def name_in_url(url: str) -> str | None:
    """The last segment of the URL's path, cleaned like a given file name; None if nothing
    usable is there (`https://example.com/` or `/..`)."""
    segment = unquote(posixpath.basename(urlsplit(url).path))
    try:
        return check_filename(segment, required=False)
    except ApiError:
        return None


class MediaFetcher:
    """Fetches the media of sends, under `[media_fetch]` and the kinds' size limits.

    `network`: how the pinned connections reach the network (None: for real; tests record
    them or send them to a local server). `ssl_context`: what certificates are trusted (None:
    the usual roots).
    """

    def __init__(
        self,
        settings: MediaFetchSettings,
        limits: LimitsSettings,
        resolve: Resolver,
        *,
        network: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._limits = limits
        self._pinning = Pinning(resolve, settings.allow_private_targets, SETTING)
        self._network = network
        self._ssl_context = ssl_context

    async def fetch(self, medium: MediaUrl) -> CheckedMedia:
        """The file at the URL, checked like a base64 medium; ApiError otherwise."""
        timeout_s = self._settings.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                data = await self._download(medium)
        except TimeoutError:
            raise ApiError(
                "media_fetch_timeout",
                f"the file at '{FIELD}' did not arrive within {timeout_s:g} s "
                "([media_fetch] timeout_s); nothing was accepted",
            ) from None
        filename, stem = medium.filename, str(medium.kind)
        if filename is None:
            named = name_in_url(medium.url)
            if named is not None and "." in named:
                filename = named
            else:  # "/download": the extension comes from the sniffed type ("download.pdf")
                stem = named or stem
        # Sniffed, and a picture decoded in full: not on the event loop.
        return await asyncio.to_thread(check_media, medium.kind, data, filename, stem)

    async def _download(self, medium: MediaUrl) -> bytes:
        limit = limit_for(medium.kind, self._limits)
        client = pinned_client(
            self._pinning,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=0),
            network=self._network,
            ssl_context=self._ssl_context,
        )
        async with client:
            url = medium.url
            for hop in range(self._settings.max_redirects + 1):
                response = await self._get(client, url, first=hop == 0)
                try:
                    if not response.is_redirect:
                        return await _body(response, medium.kind, limit)
                    url = _redirect_target(response)
                finally:
                    await response.aclose()
        raise ApiError(
            "media_origin_error",
            f"'{FIELD}' redirects more than {self._settings.max_redirects} times "
            "([media_fetch] max_redirects); nothing was accepted",
        )

    async def _get(self, client: httpx.AsyncClient, url: str, *, first: bool) -> httpx.Response:
        """The answer's head (its body not read yet), or the ApiError that says what failed."""
        where = f"'{FIELD}'" if first else f"the redirect of '{FIELD}' to {url!r}"
        try:
            check_url_shape(url, FIELD)
            request = client.build_request(
                "GET",
                url,
                headers={
                    "user-agent": USER_AGENT,
                    "accept": "*/*",
                    # The file as it is: media are compressed already, and a compressed answer
                    # would be limited only once inflated.
                    "accept-encoding": "identity",
                },
                timeout=self._settings.timeout_s,
            )
            return await client.send(request, stream=True)
        except ForbiddenTarget as exc:
            raise ApiError("media_target_forbidden", f"{where} is refused: {exc}") from None
        except UnresolvableHost as exc:
            raise ApiError("media_unreachable", f"{where} cannot be reached: {exc}") from None
        except TargetError as exc:
            raise ApiError("invalid_field", f"{where} cannot be fetched: {exc}") from None
        except UnicodeError as exc:  # a host no IDNA codec accepts ("xn--")
            raise ApiError("invalid_field", f"{where} has an invalid host name: {exc}") from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiError(
                "media_unreachable", f"{where} cannot be reached: {_describe(exc)}"
            ) from None
        except httpx.TimeoutException:
            raise TimeoutError from None  # the deadline's answer
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ApiError(
                "media_origin_error", f"{where} gave no usable answer: {_describe(exc)}"
            ) from None


def _redirect_target(response: httpx.Response) -> str:
    """Where a redirect leads (relative locations resolved against the URL that gave it)."""
    location = response.headers.get("location")
    if not location:
        raise ApiError(
            "media_origin_error",
            f"the origin of '{FIELD}' answered {response.status_code} without a Location",
        )
    try:
        return str(response.url.join(location))
    except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError is a ValueError
        raise ApiError(
            "media_origin_error",
            f"the origin of '{FIELD}' redirected to an invalid URL {location!r}: {exc}",
        ) from None


async def _body(response: httpx.Response, kind: MediaKind, limit: int) -> bytes:
    """The answer's body, read only up to the kind's limit (413 at limit + 1 bytes)."""
    status = response.status_code
    if status != 200:
        raise ApiError(
            "media_origin_error",
            f"the origin of '{FIELD}' answered {status} {response.reason_phrase} for "
            f"{str(response.url)!r}; nothing was accepted",
        )
    too_large = ApiError(
        "payload_too_large",
        f"the file at '{FIELD}' is larger than the limit for {kind} ({limit} bytes); "
        "nothing was accepted",
    )
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise too_large  # the rest is never read: the connection is closed
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise TimeoutError from None
    except httpx.HTTPError as exc:
        raise ApiError(
            "media_origin_error",
            f"the file at '{FIELD}' could not be read whole: {_describe(exc)}",
        ) from None
    if not size:
        raise ApiError("media_missing", f"the file at '{FIELD}' is empty (0 bytes)")
    return b"".join(chunks)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
