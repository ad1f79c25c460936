"""docs/cli.md documents every `tgw` command, with each of its options and arguments.

The commands are found by walking `app.cli.main`'s click group, so a new command or option
cannot be added without its section in the page.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from app.cli import main
from tests.app.docs_pages import Section, page, sections


def commands(group: click.Group = main, prefix: str = "tgw") -> Iterator[tuple[str, click.Command]]:
    """("tgw clients create", <command>) for every command that is not a group."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from commands(command, path)
        else:
            yield path, command


def parameters(command: click.Command) -> list[str]:
    """How the page must name each parameter: `--long-option`, or ARGUMENT."""
    names = []
    for param in command.params:
        if isinstance(param, click.Argument):
            names.append(param.human_readable_name)
        elif isinstance(param, click.Option) and param.name != "help":
            names.append(max(param.opts, key=len))
    return names


def problems(text: str) -> list[str]:
    by_heading: dict[str, Section] = {s.heading.strip("` "): s for s in sections(text)}
    found = []
    for path, command in commands():
        section = by_heading.get(path)
        if section is None:
            found.append(f"{path}: no section")
            continue
        found += [f"{path}: {p}" for p in parameters(command) if p not in section.text]
    found += [f"tgw: {p}" for p in parameters(main) if p not in text]
    return found


def test_the_walk_finds_nested_commands() -> None:
    paths = dict(commands())
    assert {"tgw serve", "tgw clients create", "tgw recipients remove"} <= set(paths)
    assert parameters(paths["tgw clients create"]) == [
        "CLIENT_ID",
        "--expires",
        "--scope",
        "--instance",
        "--daily-quota",
        "--ip-allow",
        "--json",
        "--config",
    ]


def test_every_command_and_option_is_documented() -> None:
    assert problems(page("cli.md")) == []


def test_a_command_without_its_section_is_reported() -> None:
    text = page("cli.md").replace("### tgw clients rotate\n", "### Rotating\n")
    assert problems(text) == ["tgw clients rotate: no section"]


def test_an_option_missing_from_its_section_is_reported() -> None:
    text = page("cli.md")
    start = text.index("### tgw serve\n")
    end = text.index("### tgw migrate\n")
    serve = text[start:end].replace("--sandbox", "--simulated")
    assert problems(text[:start] + serve + text[end:]) == ["tgw serve: --sandbox"]
