"""inbound/ and outbound/ never import each other, nor the composition root or the routes.

Both sides talk to each other only through the core (app/ models, events, queueing, the
Telegram port). The core's account package (app/account/) imports neither side, and the CLI
(app/cli/) calls the same core functions the routes call, never the routes themselves.
Imports are read with `ast`, those inside functions included, so a lazy import cannot slip
past.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Package -> what its modules must not import (a module or anything under it). A module is
# judged by the longest package here that holds it.
FORBIDDEN = {
    "inbound": ("outbound", "app.routes", "app.main", "app.cli", "app.services"),
    "outbound": ("inbound", "app.routes", "app.main", "app.cli", "app.services"),
    "app.account": ("inbound", "outbound", "app.routes", "app.main", "app.cli", "app.services"),
    "app.cli": ("app.routes",),
}


def package_of(module: str) -> str:
    """The package of FORBIDDEN that holds `module` (the longest one)."""
    holders = [p for p in FORBIDDEN if module == p or module.startswith(p + ".")]
    return max(holders, key=len)


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
    forbidden = FORBIDDEN[package_of(module)]
    return sorted(
        f"{module} imports {name}"
        for name in imported(source, module, is_package)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_inbound_and_outbound_keep_to_their_side() -> None:
    found = []
    for package in FORBIDDEN:
        for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
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


def test_the_account_package_is_core() -> None:
    source = "from outbound.worker import SendWorker\nimport inbound.processor\n"
    assert violations(source, "app.account.health") == [
        "app.account.health imports inbound.processor",
        "app.account.health imports outbound.worker",
        "app.account.health imports outbound.worker.SendWorker",
    ]
    assert violations("from app.services import Services\n", "app.account") == [
        "app.account imports app.services",
        "app.account imports app.services.Services",
    ]
    assert violations("from app.instances import set_instance_status\n", "app.account") == []


def test_the_cli_never_calls_a_route() -> None:
    source = "def f():\n    from app.routes.messages import message_page\n"
    assert violations(source, "app.cli.status") == [
        "app.cli.status imports app.routes.messages",
        "app.cli.status imports app.routes.messages.message_page",
    ]
    assert violations("from outbound.accept import Enqueuer\n", "app.cli.send") == []


def test_every_package_with_rules_exists() -> None:
    # A rule for a package that was moved or renamed would pass without checking anything.
    missing = [p for p in FORBIDDEN if not (ROOT / p.replace(".", "/") / "__init__.py").exists()]
    assert missing == []
