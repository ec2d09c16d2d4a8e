"""A progress line on stderr for long passes over the store, only when stderr is a terminal.

Piped or redirected (a log file, a CI job, ``2>&1 | tee``), nothing is drawn: no control
characters end up in a file.  The bar is rich's; the count ("1234/?") shows even when the total
is unknown (an export with bounds cannot know it without a second pass).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["progress"]


@contextmanager
def progress(
    label: str, total: int | None = None, *, stream: TextIO | None = None
) -> Iterator[Callable[[], None]]:
    """Yield a function to call once per item; draws on ``stream`` (stderr) if a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(file=stream or sys.stderr)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(label, total=total)

        def advance() -> None:
            bar.advance(task)

        yield advance
