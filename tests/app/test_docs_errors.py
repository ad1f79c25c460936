"""docs/errors.md documents every error code of app/errors.py, with its HTTP status."""

from __future__ import annotations

import re

from app.errors import STATUS_BY_CODE
from tests.app.docs_pages import page

# "| `code` | 409 | ..." -> ("code", 409)
_ROW = re.compile(r"^\|\s*`([a-z0-9_]+)`\s*\|\s*(\d{3})\s*\|", re.MULTILINE)


def documented(text: str) -> dict[str, int]:
    return {code: int(status) for code, status in _ROW.findall(text)}


def problems(text: str) -> list[str]:
    rows = documented(text)
    found = []
    for code, status in sorted(STATUS_BY_CODE.items()):
        if code not in rows:
            found.append(f"{code}: not documented")
        elif rows[code] != status:
            found.append(f"{code}: documented as {rows[code]}, answered {status}")
    return found


def test_every_error_code_is_documented_with_its_status() -> None:
    assert problems(page("errors.md")) == []


def test_a_missing_or_wrong_row_is_reported() -> None:
    text = page("errors.md")
    text = re.sub(r"^\| `csrf` \|.*\n", "", text, flags=re.MULTILINE)
    text = text.replace("| `conflict` | 409 |", "| `conflict` | 400 |")
    assert problems(text) == ["conflict: documented as 400, answered 409", "csrf: not documented"]
