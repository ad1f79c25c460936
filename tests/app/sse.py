"""Reading a text/event-stream body in tests: its frames, as a client would see them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Frame:
    id: str | None
    event: str | None
    data: str | None
    comment: str | None

    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


def frames(text: str) -> list[Frame]:
    found = []
    for block in text.split("\n\n"):
        if not block:
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")
        found.append(
            Frame(fields.get("id"), fields.get("event"), fields.get("data"), fields.get("comment"))
        )
    return found


def events(text: str) -> list[Frame]:
    """The event frames (not comments, not the end)."""
    return [f for f in frames(text) if f.id is not None]


def end(text: str) -> Frame:
    last = frames(text)[-1]
    assert last.event in ("end", "dropped"), last
    return last
