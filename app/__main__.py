"""``python -m app [COMMAND]``: with no command, serve the relay on ``HOST``:``PORT``.

The commands (``serve``, ``export``, ``stats``, ``spool``, ``healthcheck``) live in `app.cli`;
serving is `app.cli.serve.serve_relay`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from app.cli import main as run_command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default: the process's arguments); no command serves."""
    return run_command(argv)


if __name__ == "__main__":
    sys.exit(main())
