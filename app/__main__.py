"""``python -m app``: serve the relay on ``HOST``:``PORT`` until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import sys
from functools import partial

import trio
from hypercorn.utils import LifespanFailureError

from app.application import create_app
from app.server import serve, tune_garbage_collector
from app.settings import Settings, SettingsError
from app.workers import WorkerRole, run_workers


def main(worker: WorkerRole | None = None) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.logging_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if worker is None and settings.workers > 1:
        return run_workers(settings)  # the supervisor: workers run main(WorkerRole)
    app = create_app(settings)
    tune_garbage_collector()
    try:
        trio.run(partial(serve, app, settings, worker=worker))
    except BaseException as exc:
        failure = _start_up_failure(exc)
        if failure is None:
            raise
        print(f"the relay could not start: {failure}", file=sys.stderr)
        return 1
    return 0


def _start_up_failure(exc: BaseException) -> str | None:
    """A one-line reason if ``exc`` is a start-up failure a user can fix, else None.

    Binding the port (in use, not allowed) and the lifespan start-up (the store cannot be
    opened) fail inside hypercorn's nurseries, so they arrive wrapped in exception groups.
    """
    if isinstance(exc, BaseExceptionGroup):
        reasons = [_start_up_failure(inner) for inner in exc.exceptions]
        return "; ".join(r for r in reasons if r) or None
    if isinstance(exc, LifespanFailureError):
        return str(exc).removeprefix("Lifespan failure in startup. ").strip("'")
    if isinstance(exc, OSError):
        return f"cannot listen: {exc.strerror or exc}"
    return None


if __name__ == "__main__":
    sys.exit(main())
