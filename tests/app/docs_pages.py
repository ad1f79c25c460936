"""Reading the Markdown pages of docs/ for the tests that keep them complete.

The checks are deliberately plain: a page is cut into sections at its headings, and a name
counts as documented in a section when it is the first cell of a table row there (written as
`name`), or, for the CLI, when it appears in the section at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
# The first cell of a table row, when it is a name in backticks: "| `port` | ..." -> "port".
_ROW_NAME = re.compile(r"^\|\s*`([^`]+)`")


@dataclass
class Section:
    heading: str
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def row_names(self) -> set[str]:
        """The names in backticks that open a table row of this section."""
        return {m.group(1) for line in self.lines if (m := _ROW_NAME.match(line.strip()))}


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def sections(text: str) -> list[Section]:
    """The page cut at every heading (a section ends at the next heading of any level).
    Lines inside fenced code blocks are never taken for headings."""
    found = [Section("")]
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append(Section(match.group(2)))
        else:
            found[-1].lines.append(line)
    return found


def all_row_names(text: str) -> set[str]:
    return {name for section in sections(text) for name in section.row_names()}
