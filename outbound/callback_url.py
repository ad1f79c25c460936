"""A send's `callback_url`: where that message's status events go as well, checked when the
send is accepted (the delivery is inbound/webhooks/callbacks.py's).

It may come as the body's `callback_url` or as the `X-Callback-URL` header (the same value if
both). Checked here without looking anything up, so the hot path waits on no DNS: the shape
(http or https, as webhook URLs; at most 2048 characters; no credentials) and, unless
`[webhook_delivery] allow_private_targets`, a host that is an IP address of a private,
loopback or other non-public network in any spelling, or `localhost`. A host name is resolved
and checked at every delivery, by the same guard and pinned client as webhooks.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence

from app.errors import ApiError
from app.net.targets import TargetError, check_literal_target
from outbound.send_request import SendRequest

HEADER = "X-Callback-URL"
FIELD = "callback_url"


def callback_url(
    body: Mapping[str, object], headers: Mapping[str, str], *, allow_private: bool
) -> str | None:
    """The checked callback URL of a send (None: none); ApiError invalid_callback_url."""
    given = body.get(FIELD)
    header = headers.get(HEADER)
    if given is None and header is None:
        return None
    if given is not None and header is not None and given != header:
        raise ApiError(
            "invalid_callback_url",
            f"'{FIELD}' and the {HEADER} header differ: give the callback URL once",
        )
    value, field = (given, FIELD) if given is not None else (header, HEADER)
    try:
        return check_literal_target(value, allow_private=allow_private, field=field)
    except TargetError as exc:
        raise ApiError("invalid_callback_url", str(exc)) from exc


def with_callback(requests: Sequence[SendRequest], url: str | None) -> list[SendRequest]:
    """The requests, each with the callback URL (every message of a batch reports to it)."""
    if url is None:
        return list(requests)
    return [dataclasses.replace(r, callback_url=url) for r in requests]


def fingerprint_with(fingerprint: str, headers: Mapping[str, str]) -> str:
    """An Idempotency-Key's fingerprint that also covers the X-Callback-URL header (unchanged
    without it): the same body to another callback URL is another request."""
    header = headers.get(HEADER)
    if header is None:
        return fingerprint
    return hashlib.sha256(f"{fingerprint}\0{header}".encode()).hexdigest()
