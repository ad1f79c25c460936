"""One delivery attempt: check the target, render and sign the body, POST it, read the answer.

The target is checked twice over: here, for a clear refusal before anything is rendered, and
by the worker's pinned client (app/net/pinned.py) as it connects, which resolves the host again
and connects to the very address it checked. That second check is the guard: a DNS answer that
turns private after the first one (DNS rebinding) is refused there, with the same TargetError.

It runs with no transaction open, many at once. Every failure becomes an `Attempt` with an
`error` (never an exception): what that means for the delivery is decided when it is recorded
(`policy.decide`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import orjson

from app.events import MediaLinker, render_stored
from app.net.targets import Resolver, TargetError, check_target
from app.sealing import SealError
from app.settings import WebhookDeliverySettings
from inbound.webhooks.endpoints import SecretBox
from inbound.webhooks.formats import WHATSMATE, whatsmate_body, whatsmate_test_body
from inbound.webhooks.policy import parse_retry_after
from inbound.webhooks.rounds import Attempt, Claim
from inbound.webhooks.signing import secret_key_bytes, webhook_headers

log = logging.getLogger(__name__)

EXCERPT_BYTES = 1024
USER_AGENT = "tgw-webhooks/1"


class TokenError(Exception):
    """The endpoint's sealed token does not open (its message never holds the token)."""


class Attempter:
    """Makes attempts; keeps the opened signing keys (opening a sealed secret costs)."""

    def __init__(
        self,
        settings: WebhookDeliverySettings,
        box: SecretBox,
        clock: Callable[[], datetime],
        client: httpx.AsyncClient,
        *,
        media_link: MediaLinker | None,
        resolve: Resolver,
        monotonic: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._box = box
        self._clock = clock
        self._client = client
        self._media_link = media_link
        self._resolve = resolve
        self._monotonic = monotonic
        self._keys: dict[tuple[str, bytes], bytes] = {}

    async def attempt(self, claim: Claim) -> Attempt:
        now = self._clock()
        started = self._monotonic()
        status_code: int | None = None
        excerpt: str | None = None
        error: str | None = None
        retry_after: float | None = None
        timeout_s = self._settings.timeout_s
        try:
            url = await check_target(
                claim.row.url,
                allow_private=self._settings.allow_private_targets,
                resolve=self._resolve,
            )
            body = self._body(claim)
            headers = webhook_headers(
                self._signing_keys(claim, now), claim.row.event_id, int(now.timestamp()), body
            )
            headers["content-type"] = "application/json"
            headers["user-agent"] = USER_AGENT
            async with asyncio.timeout(timeout_s):
                async with self._client.stream(
                    "POST",
                    url,
                    content=body,
                    headers=headers,
                    follow_redirects=False,  # a 3xx is a failure, never chased
                    timeout=timeout_s,
                ) as response:
                    status_code = response.status_code
                    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
                    excerpt = await _excerpt(response)
        except TargetError as exc:  # by the check above, or by the pinned connection
            error = f"target refused: {exc}"
        except TokenError:
            error = "the endpoint's token does not open: was secret_key changed? set it again"
        except SealError:
            error = "the endpoint's secret does not open: was secret_key changed? rotate it"
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within timeout_s ({timeout_s:g} s)"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a bug must not lose the delivery: it is retried
            log.exception("webhook worker: unexpected error delivering %s", claim.id)
            error = f"internal error: {exc!r}"
        latency_ms = round((self._monotonic() - started) * 1000)
        return Attempt(
            claim=claim,
            attempted_at=now,
            status_code=status_code if error is None else None,
            latency_ms=latency_ms,
            excerpt=excerpt,
            error=_clean(error) if error else None,
            retry_after_s=retry_after,
        )

    def _body(self, claim: Claim) -> bytes:
        row = claim.row
        whatsmate = row.format == WHATSMATE
        if row.test_body is not None:
            if whatsmate:
                # Rendered now, not stored with the delivery: the token stays sealed at rest.
                return orjson.dumps(whatsmate_test_body(self._token(row)))
            return str(row.test_body).encode()
        if row.payload is None:
            raise RuntimeError(f"event {row.event_seq} of delivery {row.id} is missing")
        if whatsmate:
            return orjson.dumps(
                whatsmate_body(instance=row.instance, payload=row.payload, token=self._token(row))
            )
        rendered = render_stored(
            type_=row.event_type,
            id_=row.event_id,
            seq=row.event_seq,
            created_at=row.created_at,
            instance=row.instance,
            payload=row.payload,
            media_link=self._media_link,
        )
        return orjson.dumps(rendered)

    def _token(self, row: Any) -> str | None:
        if row.token is None:
            return None
        try:
            return self._box.open_token(row.endpoint_id, row.token)
        except SealError as exc:
            raise TokenError from exc

    def _signing_keys(self, claim: Claim, now: datetime) -> list[bytes]:
        row = claim.row
        keys = [self._key(row.endpoint_id, row.secret)]
        until = row.previous_secret_until
        if row.previous_secret is not None and until is not None and until > now:
            # Rotated away from a secret that no longer opens: the new one signs alone.
            with contextlib.suppress(SealError):
                keys.append(self._key(row.endpoint_id, row.previous_secret))
        return keys

    def _key(self, endpoint_id: str, sealed: bytes) -> bytes:
        cached = self._keys.get((endpoint_id, sealed))
        if cached is None:
            cached = secret_key_bytes(self._box.open(endpoint_id, sealed))
            self._keys[(endpoint_id, sealed)] = cached
        return cached


async def _excerpt(response: httpx.Response) -> str | None:
    """The first 1 KiB of the body; the rest is not read (a receiver cannot make us buffer)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_BYTES:
            break
    data = b"".join(chunks)[:EXCERPT_BYTES]
    return _clean(data.decode("utf-8", "replace")) if data else None


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL.
    return text.replace("\x00", "\ufffd")
