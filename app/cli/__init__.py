"""``python -m app [command]``: serve the relay, or answer an operator's question from a terminal.

One module per command, each with ``add_parser(commands)`` and ``run(args) -> int``.  With no
command the relay serves, exactly as ``python -m app`` always has.  The operator commands read
the same settings as the server (`Settings.from_env`), so whatever environment the container has
also points them at its store.  Exit status: 0 done, 1 the store (or the relay) failed, 2 bad
settings or arguments; failures are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.cli import export, healthcheck, serve, spool, stats
from app.cli._common import CommandError

__all__ = ["build_parser", "main"]

_COMMANDS = (serve, export, stats, spool, healthcheck)
#: The shell's status for a command ended by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description=(
            "Realtime voice relay. With no command, serve calls on HOST:PORT. Every command "
            "reads its settings from the environment, like the server."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in ``argv`` (serve when there is none); return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        return serve.run(args)
    try:
        status: int = args.handler(args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    return status
