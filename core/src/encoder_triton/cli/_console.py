"""How every command talks to its user: one error line and exit 1, and timed step progress.

Example:
    >>> with user_errors():  # doctest: +SKIP
    ...     require_extra("export", needed_by="encoder-triton export")
    error: encoder-triton export needs the 'export' extra: pip install 'encoder-triton[export]'
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import typer

from encoder_triton.errors import EncoderTritonError


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: message` on stderr; raise what it returns to exit with `code`."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors(*also: type[Exception]) -> Iterator[None]:
    """Turn our own errors (and the kinds in `also`, e.g. ValueError from option checks) into
    one `error:` line and exit 1 instead of a traceback; anything else is a bug and shows one."""
    kinds: tuple[type[Exception], ...] = (EncoderTritonError, *also)
    try:
        yield
    except kinds as exc:
        raise fail(str(exc)) from exc


def step_progress(console: Any) -> Callable[[str], AbstractContextManager[Any]]:
    """A progress display for `export_model`: a bar per step (a pulse until the step reports its
    own progress through the `advance(step, done, total)` it is handed), then a tick and its time."""

    @contextlib.contextmanager
    def progress(description: str) -> Iterator[Any]:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        started = time.perf_counter()
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description + " ...", total=None)

            def advance(step: str, done: int, total: int) -> None:
                bar.update(task, description=f"{description}: {step}", completed=done, total=total)

            yield advance
        console.print(f"[green]✓[/green] {description} [dim]({time.perf_counter() - started:.1f} s)[/dim]")

    return progress
