"""docs/configuration.md documents every settings field, under its section's heading.

The fields are found by walking the pydantic models of `Settings`, so a new key (or a new
section) cannot be added without its row in the page.
"""

from __future__ import annotations

import re
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from app.settings import Settings
from tests.app.docs_pages import page, sections

# "## [server]", "## [[instances]]", "### [instances.profile]" -> "server", "instances", ...
_SECTION_HEADING = re.compile(r"^\[\[?([a-z_][a-z0-9_.]*)\]\]?$")


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside `Model`, `list[Model]` or `Model | None`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, types.UnionType):
        for arg in get_args(annotation):
            model = _model_in(arg)
            if model is not None:
                return model
    return None


def settings_keys(model: type[BaseModel] = Settings, path: str = "") -> dict[str, set[str]]:
    """Section path ("server", "instances.profile") -> the keys of that section."""
    found: dict[str, set[str]] = {}
    for name, info in model.model_fields.items():
        if info.exclude:  # Settings.source: where the file was read from, not a key
            continue
        inner = _model_in(info.annotation)
        where = f"{path}.{name}" if path else name
        if path:
            found.setdefault(path, set()).add(name)
        if inner is not None:
            for section, keys in settings_keys(inner, where).items():
                found.setdefault(section, set()).update(keys)
    return found


def documented_keys(text: str) -> dict[str, set[str]]:
    """Section path -> the keys with a table row under that section's heading."""
    found: dict[str, set[str]] = {}
    for section in sections(text):
        match = _SECTION_HEADING.match(section.heading)
        if match:
            found.setdefault(match.group(1), set()).update(section.row_names())
    return found


def undocumented(text: str) -> list[str]:
    documented = documented_keys(text)
    return sorted(
        f"[{section}] {key}"
        for section, keys in settings_keys().items()
        for key in keys
        if key not in documented.get(section, set())
    )


def test_the_walk_finds_every_section_and_nested_table() -> None:
    keys = settings_keys()
    assert {"database", "server", "instances", "instances.profile", "webhooks"} <= set(keys)
    assert "port" in keys["server"]
    assert "proxy" in keys["instances"]
    assert "photo" in keys["instances.profile"]
    assert "source" not in {key for section in keys.values() for key in section}


def test_every_settings_field_is_documented_under_its_section() -> None:
    assert undocumented(page("configuration.md")) == []


def test_a_key_whose_row_is_removed_is_reported() -> None:
    text = page("configuration.md")
    row = next(line for line in text.splitlines() if line.startswith("| `max_connections` |"))
    assert undocumented(text.replace(row + "\n", "")) == ["[server] max_connections"]


def test_a_row_under_another_section_does_not_count() -> None:
    text = page("configuration.md")
    # A [server] heading renamed: its rows no longer document the [server] keys.
    assert "[server] port" in undocumented(text.replace("## [server]\n", "## Server\n"))


def test_every_section_of_the_page_is_a_settings_section() -> None:
    documented = documented_keys(page("configuration.md"))
    assert set(documented) <= set(settings_keys())
