"""Signed, expiring download links for inbound media (`data.media.url` in events).

Media is never inlined in a webhook: the event carries a link on `public_url`,
`/media/{id}?exp=<unix seconds>&sig=<HMAC-SHA256 of "id.exp">`, keyed with a key derived from
the deployment's secret_key. Links are made when an event is rendered (each webhook attempt,
each backfill read), so a receiver that was down for hours still gets one that works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from app.sealing import derive_key

LINK_TTL_S = 24 * 3600


class LinkError(Exception):
    """The link is tampered with, malformed or expired; the message says which."""


class MediaLinks:
    def __init__(
        self,
        secret_key: str,
        public_url: str,
        clock: Callable[[], datetime],
        ttl_s: int = LINK_TTL_S,
    ) -> None:
        self._key = derive_key(secret_key, "media-links")
        self._base = public_url.rstrip("/")
        self._clock = clock
        self._ttl_s = ttl_s

    def signature(self, media_id: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{media_id}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url(self, media: dict[str, Any]) -> str:
        media_id = str(media["id"])
        expires = int(self._clock().timestamp()) + self._ttl_s
        sig = self.signature(media_id, expires)
        return f"{self._base}/media/{quote(media_id, safe='')}?exp={expires}&sig={sig}"

    def check(self, media_id: str, expires: str | None, sig: str | None) -> None:
        if not expires or not sig:
            raise LinkError("the link has no 'exp' or no 'sig': use the URL from the event")
        if not expires.isdigit() or len(expires) > 12:
            raise LinkError("'exp' must be a Unix time in seconds")
        expected = self.signature(media_id, int(expires))
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            raise LinkError("the link's signature does not match: it was altered")
        if int(expires) < self._clock().timestamp():
            raise LinkError(
                "the link has expired; fetch the event again (GET /api/v1/events) for a fresh one"
            )
