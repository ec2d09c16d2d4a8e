"""What the operator commands share: settings, the store, logging, and one-line failures.

The command modules import trio, rich and the store only when they run, so that ``--help`` and
the container's ``healthcheck`` (every 30 seconds) start quickly.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable

from app.settings import Settings, SettingsError
from app.store.base import ConversationStore, StoreError

__all__ = ["CommandError", "load_settings", "open_existing_store", "with_store"]

#: Exit status when the settings are wrong (argparse uses 2 for bad arguments too).
BAD_SETTINGS = 2
#: Exit status when the store (or another service) failed.
FAILED = 1


class CommandError(Exception):
    """A failure the operator can act on: printed as one line, exit with ``status``."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


def load_settings() -> Settings:
    """`Settings.from_env`, the server's own; logging set up for a terminal command.

    Only warnings and errors are logged (to stderr): stdout carries the command's output.
    """
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise CommandError(f"configuration error: {exc}", BAD_SETTINGS) from None
    logging.basicConfig(
        level=max(settings.logging_level, logging.WARNING),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return settings


async def open_existing_store(settings: Settings) -> ConversationStore:
    """The server's store, for reading: a SQLite file that is not there is an error here.

    The server creates its SQLite file on first start; a command that did the same would
    answer "no conversations" when DATA_DIR is simply wrong.
    """
    from app.store.factory import open_store  # loads the Azure SDK only for Cosmos DB

    if settings.store_kind == "sqlite":
        path = settings.data_dir / "conversations.sqlite3"
        if not path.is_file():
            raise StoreError(f"no conversation store at {path} (is DATA_DIR right?)")
    return await open_store(settings)


def with_store(settings: Settings, work: Callable[[ConversationStore], Awaitable[int]]) -> int:
    """Open the store, run ``work`` on it, close it; a store failure becomes a `CommandError`."""
    import trio  # here: ``healthcheck`` and ``--help`` start without it

    async def run() -> int:
        store = await open_existing_store(settings)
        try:
            return await work(store)
        finally:
            with trio.CancelScope(shield=True):
                await store.aclose()

    try:
        return trio.run(run)
    except StoreError as exc:
        raise CommandError(f"the conversation store failed: {exc}") from None
