"""``python -m app``: serve the relay on ``HOST``:``PORT`` until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import sys

import trio

from app.application import create_app
from app.server import serve, tune_garbage_collector
from app.settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.logging_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(settings)
    tune_garbage_collector()
    trio.run(serve, app, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
