"""docs/events.md documents every event type of app/events.py."""

from __future__ import annotations

from app.events import EVENT_TYPES
from tests.app.docs_pages import all_row_names, page, sections


def problems(text: str) -> list[str]:
    """Each type needs a row in the table of types and a heading of its own `data`."""
    rows = all_row_names(text)
    described = {s.heading for s in sections(text)} | {
        line for s in sections(text) for line in s.lines if line.startswith("**`")
    }
    found = []
    for type_ in EVENT_TYPES:
        if type_ not in rows:
            found.append(f"{type_}: not in the table of types")
        if not any(f"`{type_}`" in entry for entry in described):
            found.append(f"{type_}: its data is not described")
    return found


def test_every_event_type_is_documented_with_its_data() -> None:
    assert problems(page("events.md")) == []


def test_a_missing_type_is_reported() -> None:
    text = page("events.md").replace("| `message.read` |", "| message read |")
    text = text.replace("**`message.read`**", "**Reads**")
    assert problems(text) == [
        "message.read: not in the table of types",
        "message.read: its data is not described",
    ]
