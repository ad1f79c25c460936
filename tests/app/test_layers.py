"""inbound/ and outbound/ never import each other, nor the composition root or the routes.

Both sides talk to each other only through the core (app/ models, events, queueing, the
Telegram port). Imports are read with `ast`, those inside functions included, so a lazy
import cannot slip past.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Package -> what its modules must not import (a module or anything under it).
FORBIDDEN = {
    "inbound": ("outbound", "app.routes", "app.main", "app.cli", "app.services"),
    "outbound": ("inbound", "app.routes", "app.main", "app.cli", "app.services"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module named by an import in `source` (relative imports resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
    return names


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    forbidden = FORBIDDEN[module.split(".")[0]]
    return sorted(
        f"{module} imports {name}"
        for name in imported(source, module, is_package)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_inbound_and_outbound_keep_to_their_side() -> None:
    found = []
    for package in FORBIDDEN:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            found += violations(source, module_name(path), path.name == "__init__.py")
    assert found == []


def test_a_lazy_import_of_the_other_side_is_caught() -> None:
    source = "def f():\n    from outbound.worker import SendWorker\n"
    assert violations(source, "inbound.processor") == [
        "inbound.processor imports outbound.worker",
        "inbound.processor imports outbound.worker.SendWorker",
    ]


def test_relative_imports_are_resolved() -> None:
    # Judged by the module they name, like absolute ones.
    names = imported("from ..processor import Processor\n", "inbound.webhooks.delivery")
    assert names == {"inbound.processor", "inbound.processor.Processor"}
    assert imported("from . import formats\n", "inbound.webhooks", is_package=True) == {
        "inbound.webhooks",
        "inbound.webhooks.formats",
    }


def test_the_core_may_be_imported() -> None:
    assert violations("from app.events import append_event\n", "outbound.worker") == []
    assert violations("import app.routes_helper\n", "inbound.forward") == []
