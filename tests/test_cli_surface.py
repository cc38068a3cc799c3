"""The command line's public surface, pinned: every command, its arguments and its options.

Scripts and cron lines call these by name, so renaming or dropping one breaks them silently. A change
here is a change for users: make it on purpose, and say so in the README.
Also: the command-line modules import one another without a cycle, whatever imports when.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
import typer

import leadpipe.cli
from leadpipe.cli import app

# command → its arguments, in order, then its options (each with its other spellings)
EXPECTED: dict[str, tuple[str, ...]] = {
    "add": ("INPUT", "--refresh", "--db"),
    "db upgrade": ("--db",),
    "demo": ("--sites", "--db"),
    "doctor": ("--db",),
    "export": ("--output -o", "--format", "--per-domain", "--kind", "--validation", "--domain", "--db"),
    "extract": ("TARGET", "--region", "--json"),
    "keys create": ("--name", "--scope", "--db"),
    "keys list": ("--db",),
    "keys revoke": ("NAME", "--db"),
    "pause": ("STAGE", "--reason", "--db"),
    "reject": ("STAGE", "--id", "--where", "--all", "--db"),
    "requeue": ("STAGE", "--dead", "--id", "--db"),
    "resume": ("STAGE", "--db"),
    "run": ("INPUT", "--output -o", "--format", "--per-domain", "--refresh", "--max-wait", "--db"),
    "search": (
        "QUERY",
        "--in",
        "--bbox",
        "--near",
        "--radius-km",
        "--type",
        "--language",
        "--region",
        "--dry-run",
        "--db",
    ),
    "select": ("STAGE", "--id", "--where", "--all", "--refresh", "--db"),
    "serve": ("--host", "--port", "--no-workers", "--db"),
    "sitemaps": ("TARGET", "--json", "--max-wait"),
    "status": ("--json", "--check", "--db"),
    "unselect": ("STAGE", "--id", "--where", "--all", "--db"),
    "worker": ("--stage", "--concurrency", "--until-idle", "--db"),
}


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Each leaf command of the Typer app by its full name, with its parameters as EXPECTED spells them."""
    if hasattr(command, "commands"):  # a group, such as `leadpipe db`
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
        return
    yield (
        " ".join(path),
        tuple(
            param.name.upper()
            if param.param_type_name == "argument"
            else " ".join(param.opts + param.secondary_opts)
            for param in command.params
        ),
    )


def test_the_commands_and_their_options_are_the_published_ones() -> None:
    found = dict(_commands(typer.main.get_command(app)))
    assert sorted(found) == sorted(EXPECTED)
    for name, params in found.items():
        assert params == EXPECTED[name], name


def _cli_imports(module: Path) -> set[str]:
    """The command-line modules ``module`` imports, at its top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "leadpipe.cli":  # from leadpipe.cli import run
                names.update(f"leadpipe.cli.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("leadpipe.cli.")}


def test_the_command_line_modules_import_one_another_without_a_cycle() -> None:
    package = Path(leadpipe.cli.__file__).parent
    modules = {f"leadpipe.cli.{path.stem}": path for path in package.glob("*.py") if path.stem != "__init__"}
    imports = {name: _cli_imports(path) & modules.keys() for name, path in modules.items()}

    try:
        TopologicalSorter(imports).prepare()
    except CycleError as error:
        pytest.fail("import cycle: " + " → ".join(error.args[1]))
