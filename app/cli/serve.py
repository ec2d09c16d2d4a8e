"""``python -m app serve`` (the default): serve the relay on ``HOST``:``PORT`` until SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from app.settings import Settings, SettingsError

if TYPE_CHECKING:
    from app.process.worker_role import WorkerRole

HELP = "serve calls on HOST:PORT until SIGTERM or SIGINT (the default)"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("serve", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        fail(f"configuration error: {exc}")
        return 2
    if settings.workers > 1:
        from app.process.logging_setup import configure_logging
        from app.process.workers import run_workers

        configure_logging(settings)
        return run_workers(settings)  # the supervisor: each worker runs serve_worker
    return serve_relay(settings)


def serve_worker(worker: WorkerRole) -> int:
    """One worker process of the ``WORKERS`` supervisor (``python -m app.process.worker``)."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        fail(f"configuration error: {exc}")
        return 2
    return serve_relay(settings, worker=worker)


def serve_relay(settings: Settings, worker: WorkerRole | None = None) -> int:
    """Serve until told to stop; 0 after a clean shutdown, 1 when start-up failed."""
    # Imported here: the operator commands (and the health check) do not load the server.
    from functools import partial

    import trio

    from app.process.logging_setup import configure_logging
    from app.process.server import serve, tune_garbage_collector
    from app.web.application import create_app

    configure_logging(settings)
    app = create_app(settings)
    tune_garbage_collector()
    try:
        trio.run(partial(serve, app, settings, worker=worker))
    except BaseException as exc:
        failure = start_up_failure(exc)
        if failure is None:
            raise
        fail(f"the relay could not start: {failure}")
        return 1
    return 0


def fail(message: str) -> None:
    """Say why serving stops, on stderr: one plain line, or one JSON object with
    ``LOG_FORMAT=json`` (read from the environment: the settings may be what failed)."""
    if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
        line = json.dumps({"level": "CRITICAL", "logger": __name__, "message": message})
        print(line, file=sys.stderr, flush=True)
    else:
        print(message, file=sys.stderr, flush=True)


def start_up_failure(exc: BaseException) -> str | None:
    """A one-line reason if ``exc`` is a start-up failure a user can fix, else None.

    Binding the port (in use, not allowed) and the lifespan start-up (the store cannot be
    opened) fail inside hypercorn's nurseries, so they arrive wrapped in exception groups.
    """
    from hypercorn.utils import LifespanFailureError

    if isinstance(exc, BaseExceptionGroup):
        reasons = [start_up_failure(inner) for inner in exc.exceptions]
        return "; ".join(r for r in reasons if r) or None
    if isinstance(exc, LifespanFailureError):
        return str(exc).removeprefix("Lifespan failure in startup. ").strip("'")
    if isinstance(exc, OSError):
        return f"cannot listen: {exc.strerror or exc}"
    return None
