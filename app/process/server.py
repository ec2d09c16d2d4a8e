"""Serving the relay with hypercorn's trio worker, and shutting down without losing a call.

`serve` runs ``hypercorn.trio.serve`` with a shutdown trigger of our own.  On SIGTERM or SIGINT
(also when the signal reaches the whole process group: there is one process and it handles the
signal, unlike the ``hypercorn`` CLI whose worker dies at once) the trigger:

1. marks the relay as draining: new calls are refused with HTTP 503 and ``/readyz`` fails;
2. ends every live call as ``server_shutdown`` and waits for their saves (``SHUTDOWN_GRACE``);
3. returns, so hypercorn stops listening and closes what is left.

hypercorn's own graceful timeout (3 s by default) would otherwise cancel connections silently;
by the time it applies here, every call has already been saved.

As one of several workers (``WORKERS`` > 1, see `app.process.workers`) the process serves on a
socket
that shares the port with its siblings, also shuts down when its supervisor is gone, and
publishes its metrics for the others to sum.
"""

from __future__ import annotations

import gc
import logging
import signal
from typing import TYPE_CHECKING, Any, cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from app.process.logging_setup import announce
from app.settings import Settings
from app.web.application import RelayApp
from app.web.metrics import shared_metrics

if TYPE_CHECKING:
    from app.process.worker_role import WorkerRole


#: Shorter admin tokens are warned about at start (guessable).
MIN_ADMIN_TOKEN = 24

log = logging.getLogger(__name__)

# hypercorn's graceful timeout after the drain: only plain HTTP requests can be left by then.
AFTER_DRAIN_GRACE = 2.0
# hypercorn's own message-size bound, a memory limit only: the relay checks MAX_FRAME_BYTES
# itself so that it can end the call with a reason and a clear error event.
HYPERCORN_LIMIT_FACTOR = 4


# Collect young objects after 50,000 net allocations instead of 700 (see tune_garbage_collector).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """Make the cyclic garbage collector run rarely and skip everything built at start-up.

    Every audio frame allocates short-lived objects (events, bytes, dicts) that die young
    through reference counting; with CPython's default threshold of 700 the collector still
    runs hundreds of times a second and its pauses show up as the relay's tail latency.
    Measured with bench/relay_bench.py at 50 calls on one core: p99 round trip 41 ms -> 14 ms
    and CPU 69 % -> 62 %.  ``gc.freeze()`` moves the objects that exist now (modules, the
    app) out of the collector's sight, so a full collection only scans what calls created.
    Cycles are still collected, just in larger batches.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def hypercorn_config(settings: Settings, bind: str | None = None) -> Config:
    """hypercorn's settings; ``bind`` replaces ``HOST``:``PORT`` (a worker's shared socket)."""
    config = Config()
    config.bind = [bind or f"{settings.host}:{settings.port}"]
    config.websocket_max_message_size = settings.max_frame_bytes * HYPERCORN_LIMIT_FACTOR
    config.graceful_timeout = AFTER_DRAIN_GRACE
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = None
    return config


async def serve(
    app: RelayApp,
    settings: Settings,
    *,
    worker: WorkerRole | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until SIGTERM/SIGINT (or, as a worker, until the supervisor is gone), then drain."""
    stop = trio.Event()
    async with trio.open_nursery() as signals_nursery:
        await signals_nursery.start(_watch_signals, stop)
        bind = None
        if worker is not None:
            signals_nursery.start_soon(_watch_supervisor, worker.supervisor_fd, stop)
            bind = worker.bind(settings.host)
        publisher = shared_metrics(app.relay)
        if publisher is not None:
            await signals_nursery.start(publisher.run)
        async with trio.open_nursery() as serving:
            binds = await serving.start(serve_until, app, settings, stop, bind)
            _announce(binds, settings)
            task_status.started(binds)
        signals_nursery.cancel_scope.cancel()


async def serve_until(
    app: RelayApp,
    settings: Settings,
    stop: trio.Event,
    bind: str | None = None,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``stop`` is set, then drain live calls and return."""

    async def shutdown_trigger() -> None:
        await stop.wait()
        log.info("Shutdown requested: refusing new calls, ending live calls")
        await app.relay.drain()  # the store is closed by the lifespan's end (Relay.aclose)

    await hypercorn_serve(
        cast(Any, app),  # an ASGI 3 app; hypercorn's Framework union does not list callables
        hypercorn_config(settings, bind),
        shutdown_trigger=shutdown_trigger,
        task_status=task_status,
    )


async def _watch_signals(
    stop: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if stop.is_set():
                log.info("%s again: shutdown is already in progress", name)
                continue
            log.info("Received %s", name)
            stop.set()


async def _watch_supervisor(fd: int, stop: trio.Event) -> None:
    """Drain when the supervisor is gone: the pipe only it can write to reaches end-of-file."""
    async with trio.lowlevel.FdStream(fd) as pipe:
        while await pipe.receive_some():
            pass  # the supervisor never writes; nothing to read but the end
    if not stop.is_set():
        log.error("The supervisor is gone: shutting down")
        stop.set()


def _announce(binds: list[str], settings: Settings) -> None:
    for bind in binds:
        announce(f"relay listening on {bind}")
    announce(f"upstream: {settings.describe_upstream()}")
    announce(f"store: {settings.describe_store()}")
    announce(f"recording: {settings.describe_recording()}")
    if settings.admin_token is None:
        log.warning(
            "ADMIN_TOKEN is unset: the admin API answers only loopback clients that address "
            "a loopback name (localhost, 127.0.0.1, [::1])"
        )
    elif len(settings.admin_token) < MIN_ADMIN_TOKEN:
        log.warning(
            "ADMIN_TOKEN is only %d characters: use at least %d random ones "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            len(settings.admin_token),
            MIN_ADMIN_TOKEN,
        )
    if settings.call_token_secret is None:
        log.warning("CALL_TOKEN_SECRET is unset: ?customer_id= is trusted as given")
