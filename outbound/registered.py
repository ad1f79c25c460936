"""Which recipients of a batch of sends have opted in: one statement per instance for the
whole batch (the accept path runs it for every group commit)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from outbound.send_request import SendRequest

_REGISTERED = text(
    "SELECT number FROM recipient WHERE instance = :instance AND number IN :numbers "
    "AND status = 'registered'"
).bindparams(bindparam("numbers", expanding=True))
# Numbers looked up in one statement (well under SQLite's 32,766 bound parameters).
_CHUNK = 500


def first_unregistered(
    conn: Connection, groups: Sequence[Sequence[SendRequest]]
) -> list[str | None]:
    """For each group of sends (one HTTP request's): the first recipient number, in the
    group's order, that is not registered with its instance; None if all are (group sends
    have no number and pass)."""
    wanted: dict[int, set[str]] = {}
    for group in groups:
        for request in group:
            if request.to_number is not None:
                wanted.setdefault(request.instance, set()).add(request.to_number)
    registered: set[tuple[int, str]] = set()
    for instance, numbers in wanted.items():
        ordered = sorted(numbers)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            found = conn.execute(_REGISTERED, {"instance": instance, "numbers": chunk})
            registered.update((instance, number) for (number,) in found)
    return [
        next(
            (
                r.to_number
                for r in group
                if r.to_number is not None and (r.instance, r.to_number) not in registered
            ),
            None,
        )
        for group in groups
    ]
