"""[media_fetch]: how media given by URL are fetched (outbound/fetch.py)."""

from __future__ import annotations

from pydantic import Field

from app.settings.base import _Section


class MediaFetchSettings(_Section):
    # Allow URLs on private, loopback and other non-public addresses (a file server on the
    # gateway's own network). Off: a send must not become a way into that network.
    allow_private_targets: bool = False
    # The whole fetch, redirects and the body included: a server that drips its answer
    # cannot hold the request longer than this.
    timeout_s: float = Field(default=20, gt=0, le=300)
    # Redirects followed (each one checked again like the first URL); 0: none.
    max_redirects: int = Field(default=3, ge=0, le=10)
