"""``WORKERS`` > 1: several processes serve one port, and the process that was started supervises.

Why not hypercorn's own workers (``hypercorn --workers N``, ``hypercorn.run.run``): its workers
inherit the default SIGTERM action, so a SIGTERM sent to the process group (what container
runtimes and ``kill -TERM -PGID`` do) kills every worker at once and no live call is saved as
``server_shutdown``; its shutdown is its own polling of an event, not our drain; and one worker
killed by SIGKILL makes it stop all the others instead of replacing the dead one.
(``hypercorn.trio.serve``, which the single process uses, ignores ``workers``.)

So this module is a small supervisor:

- It reserves ``HOST``:``PORT`` with a socket bound with ``SO_REUSEPORT`` but never listening
  (port 0 becomes a real port that every worker, and every replacement, binds too).  Each worker
  binds its own ``SO_REUSEPORT`` socket there and listens once its start-up is done; the kernel
  spreads new connections over the listening sockets.
- It starts ``WORKERS`` processes (``python -m app.process.worker``), each a complete relay: its own
  drain on SIGTERM (`app.process.server.serve`), its own spool slot (`app.store.spool_slots`).
- A worker that dies while the supervisor is not stopping is replaced (after a short back-off
  when it died soon after starting); the replacement takes the dead worker's free spool slot and
  recovers its calls from their checkpoints as ``server_crash``.
- On SIGTERM or SIGINT (to it, or to the whole group) it passes SIGTERM to every worker, waits
  for them to drain, and exits 0 if every worker did.  A worker still running
  ``STOP_MARGIN`` seconds after ``SHUTDOWN_GRACE`` plus hypercorn's grace gets SIGKILL: its
  checkpoints remain for the next start.
- Each worker holds the read end of a pipe whose write end only the supervisor has: if the
  supervisor dies (even by SIGKILL), every worker sees end-of-file and drains itself.
- Metrics: workers publish their figures to prometheus-client's multiprocess files in a
  directory the supervisor creates and removes (see `app.web.metrics`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

import attrs
import trio
from prometheus_client.multiprocess import mark_process_dead

from app.process.server import AFTER_DRAIN_GRACE
from app.process.worker_role import WorkerRole, reuse_port_socket
from app.settings import Settings
from app.web.metrics import MULTIPROC_DIR_ENV

log = logging.getLogger(__name__)

#: Seconds beyond SHUTDOWN_GRACE + hypercorn's grace before a worker that has not exited is killed.
STOP_MARGIN = 5.0
#: A worker that dies sooner than this after starting is replaced only after a back-off.
HEALTHY_UPTIME = 10.0
RESTART_DELAY_INITIAL = 0.5
RESTART_DELAY_MAX = 30.0


def run_workers(settings: Settings) -> int:
    """Serve with ``settings.workers`` processes until SIGTERM or SIGINT; the exit status."""
    try:
        reservation = reuse_port_socket(settings.host, settings.port)
    except OSError as exc:
        print(f"the relay could not start: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
    with reservation, tempfile.TemporaryDirectory(prefix="relay-metrics-") as metrics_dir:
        supervisor = Supervisor(settings, reservation.getsockname()[1], Path(metrics_dir))
        return trio.run(supervisor.run)


@attrs.define(eq=False)
class Supervisor:
    settings: Settings
    port: int
    metrics_dir: Path
    _stopping: trio.Event = attrs.field(factory=trio.Event, init=False)
    _live: dict[int, trio.Process] = attrs.field(factory=dict, init=False)
    _failed: bool = attrs.field(default=False, init=False)

    async def run(self) -> int:
        log.info(
            "Supervising %d workers on %s:%d (pid %d)",
            self.settings.workers,
            self.settings.host,
            self.port,
            os.getpid(),
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(self._watch_signals, nursery)
            async with trio.open_nursery() as workers:
                for index in range(self.settings.workers):
                    workers.start_soon(self._keep_worker, nursery, index)
            nursery.cancel_scope.cancel()
        return 1 if self._failed else 0

    async def _keep_worker(self, nursery: trio.Nursery, index: int) -> None:
        """Run worker ``index``, and a replacement each time it dies, until stopping.

        A first worker that gives up at start-up (an exit status, soon) stops them all: a
        replacement would fail the same way (the data directory cannot be written, say), and the
        supervisor then exits 1 like a single process that cannot start.
        """
        delay = RESTART_DELAY_INITIAL
        first = True
        while not self._stopping.is_set():
            started = trio.current_time()
            code = await self._run_worker(index)
            quick = trio.current_time() - started < HEALTHY_UPTIME
            if self._stopping.is_set():
                # Killed by the SIGTERM itself: it had not installed its handler, so it was
                # still starting and held no call.
                if code not in (0, -signal.SIGTERM):
                    self._failed = True
                    log.error("Worker %d stopped with %s", index, _describe(code))
                return
            if first and quick and code > 0:
                log.error("Worker %d could not start (%s): stopping", index, _describe(code))
                self._failed = True
                self._stop(nursery)
                return
            first = False
            log.error("Worker %d died (%s): starting a replacement", index, _describe(code))
            if not quick:
                delay = RESTART_DELAY_INITIAL
                continue
            with trio.move_on_after(delay):
                await self._stopping.wait()
            delay = min(delay * 2, RESTART_DELAY_MAX)

    async def _run_worker(self, index: int) -> int:
        """Start worker ``index`` and wait for it to exit; its return code."""
        read_fd, write_fd = os.pipe()
        try:
            role = WorkerRole(index, self.port, read_fd)
            environment = {**os.environ, MULTIPROC_DIR_ENV: str(self.metrics_dir)}
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "app.process.worker", *role.argv()],
                env=environment,
                pass_fds=(read_fd,),
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        self._live[index] = process
        log.info("Started worker %d (pid %d)", index, process.pid)
        try:
            if self._stopping.is_set():  # the signal came while it was starting
                process.send_signal(signal.SIGTERM)
            return await process.wait()
        finally:
            del self._live[index]
            os.close(write_fd)
            # Its live gauges (active calls, spool) leave the sums; its counters stay in them.
            mark_process_dead(process.pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]

    async def _watch_signals(
        self,
        nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                if self._stopping.is_set():
                    log.warning("%s again: the workers are already draining", name)
                    continue
                log.info("Received %s: draining %d worker(s)", name, len(self._live))
                self._stop(nursery)

    def _stop(self, nursery: trio.Nursery) -> None:
        if not self._stopping.is_set():
            self._stopping.set()
            nursery.start_soon(self._stop_workers)

    async def _stop_workers(self) -> None:
        """SIGTERM every worker; SIGKILL those still running after the drain's time is up."""
        for process in list(self._live.values()):
            _signal(process, signal.SIGTERM)
        await trio.sleep(self.settings.shutdown_grace + AFTER_DRAIN_GRACE + STOP_MARGIN)
        for index, process in list(self._live.items()):
            log.error("Worker %d (pid %d) did not stop in time: killing it", index, process.pid)
            _signal(process, signal.SIGKILL)


def _signal(process: trio.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # exited meanwhile
        process.send_signal(signum)


def _describe(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"
