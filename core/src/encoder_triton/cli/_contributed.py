"""Commands that other distributions add to `encoder-triton`, found through entry points.

A distribution contributes a typer command function in its pyproject.toml; bench's `tune`:

    [project.entry-points."encoder_triton.cli_commands"]
    tune = "encoder_triton.bench.tune_command:tune"

Core never imports those distributions (encoder-triton-bench depends on encoder-triton, not
the other way round). A command listed in ADVERTISED whose distribution is not installed still
shows in the help, and answers with the pip command that brings it.

Example:
    >>> sorted(ADVERTISED)
    ['tune']
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import typer

from encoder_triton.cli._console import fail

GROUP = "encoder_triton.cli_commands"

#: Commands core tells users about although another distribution implements them:
#: name -> (distribution, one-line summary for the help).
ADVERTISED = {
    "tune": (
        "encoder-triton-bench",
        "Measure serving configs of MODEL_REPO/NAME on this machine and write the fastest within a p99 bound.",
    ),
}

#: Lets a stand-in accept any arguments, so `tune repo/name --p99-ms 250` reaches the hint.
_ANY_ARGUMENTS = {"allow_extra_args": True, "ignore_unknown_options": True}


def contributed_commands() -> dict[str, Callable[..., Any]]:
    """The installed contributions by command name (importing their modules, nothing else)."""
    found: dict[str, Callable[..., Any]] = {}
    for entry in entry_points(group=GROUP):
        try:
            found[entry.name] = entry.load()
        except ModuleNotFoundError:
            # Metadata without the code (a removed editable checkout): as good as not installed.
            continue
    return found


def add_contributed_commands(app: typer.Typer, *, panel: str) -> None:
    """Register every installed contribution, and a stand-in with the install hint for each
    advertised command that is missing."""
    found = contributed_commands()
    for name, command in sorted(found.items()):
        app.command(name, rich_help_panel=panel)(command)
    for name, (distribution, summary) in ADVERTISED.items():
        if name not in found:
            app.command(
                name,
                help=f"{summary}\n\nNeeds the {distribution} package: pip install {distribution}",
                context_settings=_ANY_ARGUMENTS,
                rich_help_panel=panel,
            )(_install_hint(name, distribution))


def _install_hint(name: str, distribution: str) -> Callable[[], None]:
    def hint() -> None:
        raise fail(f"encoder-triton {name} needs the {distribution} package: pip install {distribution}")

    return hint
