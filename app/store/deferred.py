"""A store that is opened in the background, so that a logging outage never stops the voice.

`DeferredStore` is the relay's store from the moment the relay is built.  Until the real back end
has been opened it answers every operation with :class:`StoreError` ("not reachable yet: ..."),
which the recorder already answers by spooling, and the admin API by a 503: calls are served and
their documents kept on disk while the store is down, and the spool flushes once it is back.

`DeferredStore.keep_opening` runs in the app's lifespan nursery.  Its first attempt decides
start-up: an error that retrying cannot fix (:class:`StoreUnusableError`: a rejected key, a TLS
failure) stops the relay with that one line; an unreachable or slow store does not -- start-up
goes on after at most ``startup_wait`` seconds and the opener keeps trying with exponential
backoff (with jitter, so instances that failed together do not retry in lockstep).
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import attrs
import trio

from app.store.base import ConversationStore, Page, SaveOutcome, StoreError, StoreUnusableError

__all__ = ["DeferredStore", "StoreState"]

log = logging.getLogger(__name__)

#: Seconds between the first failed attempt and the next; doubled after each failure.
RETRY_INITIAL = 1.0
#: Longest wait between two attempts.
RETRY_MAX = 30.0
#: Each wait is shortened by up to this fraction.
RETRY_JITTER = 0.2

StoreState = Literal["connecting", "open", "unavailable", "unusable", "closed"]


@attrs.define(eq=False)
class DeferredStore:
    """A `ConversationStore` whose back end ``opener`` opens later; see the module docstring."""

    opener: Callable[[], Awaitable[ConversationStore]]
    #: The back end's short name ("sqlite", "cosmos"), known before it is open.
    name: str
    #: Called once the back end is open (the recorder wakes its flusher).
    on_open: Callable[[], None] = lambda: None
    state: StoreState = attrs.field(default="connecting", init=False)
    #: Why the store is not open, for logs, ``/readyz`` and the dashboard.
    error: str | None = attrs.field(default=None, init=False)
    attempts: int = attrs.field(default=0, init=False)
    _inner: ConversationStore | None = attrs.field(default=None, init=False)
    #: The last `probe`: when (trio time), its error (None: reachable), when (wall clock).
    _probe: tuple[float, str | None, str] | None = attrs.field(default=None, init=False)

    @property
    def is_open(self) -> bool:
        return self._inner is not None

    @property
    def inner(self) -> ConversationStore | None:
        """The opened back end, for back-end specific status (None until open)."""
        return self._inner

    async def keep_opening(
        self,
        startup_wait: float,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Open the back end, retrying until it opens; see the module docstring.

        ``task_status.started()`` comes after the first attempt or ``startup_wait`` seconds,
        whichever is first.  Raises :class:`StoreUnusableError` before that when the first
        attempt finds an error retrying cannot fix.
        """
        first_attempt_done = trio.Event()
        fatal: list[StoreUnusableError] = []

        async def attempts() -> None:
            delay = RETRY_INITIAL
            while not self._try_done():
                try:
                    await self._attempt()
                except StoreUnusableError as exc:
                    if not first_attempt_done.is_set():
                        fatal.append(exc)
                        first_attempt_done.set()
                        return
                    log.error("The store cannot be used (retrying in %.0f s): %s", delay, exc)
                except StoreError as exc:
                    log.warning("The store is unavailable (retrying in %.0f s): %s", delay, exc)
                first_attempt_done.set()
                if self.is_open:
                    return
                await trio.sleep(delay * (1 - RETRY_JITTER * random.random()))
                delay = min(delay * 2, RETRY_MAX)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(attempts)
            with trio.move_on_after(startup_wait):
                await first_attempt_done.wait()
            if fatal:
                nursery.cancel_scope.cancel()  # raised below, as itself rather than in a group
            elif not self.is_open:
                log.warning(
                    "Serving calls without the store (%s): conversations are spooled to disk "
                    "and written once it is reachable",
                    self.error or "still connecting",
                )
            if not fatal:
                task_status.started()
        if fatal:
            raise fatal[0]

    def _try_done(self) -> bool:
        return self.is_open or self.state == "closed"

    async def _attempt(self) -> None:
        self.attempts += 1
        try:
            inner = await self.opener()
        except StoreUnusableError as exc:
            self.state, self.error = "unusable", str(exc)
            raise
        except StoreError as exc:
            self.state, self.error = "unavailable", str(exc) or type(exc).__name__
            raise
        if self.state == "closed":  # closed while the attempt ran: do not leak the back end
            with trio.CancelScope(shield=True):
                await inner.aclose()
            return
        self._inner, self.state, self.error = inner, "open", None
        if self.attempts > 1:
            log.info("The store is reachable again after %d attempts", self.attempts)
        self.on_open()

    def _store(self) -> ConversationStore:
        if self._inner is None:
            reason = self.error or "connecting"
            raise StoreError(f"the {self.name} store is not reachable yet: {reason}")
        return self._inner

    # -- ConversationStore ---------------------------------------------------------------------

    async def save(self, doc: Mapping[str, Any], *, overwrite: bool = True) -> SaveOutcome:
        return await self._store().save(doc, overwrite=overwrite)

    async def count(self) -> int:
        return await self._store().count()

    async def recent(
        self, *, limit: int, customer_id: str | None = None, continuation: str | None = None
    ) -> Page:
        return await self._store().recent(
            limit=limit, customer_id=customer_id, continuation=continuation
        )

    async def get(self, customer_id: str, doc_id: str) -> dict[str, Any] | None:
        return await self._store().get(customer_id, doc_id)

    def export(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[dict[str, Any], None]:
        return self._store().export(since=since, until=until, page_size=page_size)

    async def ping(self) -> None:
        await self._store().ping()

    async def aclose(self) -> None:
        self.state = "closed"
        if self._inner is not None:
            await self._inner.aclose()

    def status(self) -> dict[str, Any]:
        """The store's state for ``/readyz`` and the dashboard (no I/O)."""
        report: dict[str, Any] = {"name": self.name, "state": self.state, "attempts": self.attempts}
        if self.error is not None:
            report["error"] = self.error
        health = getattr(self._inner, "health", None)
        if callable(health):  # back-end specific state (Cosmos DB: whether indexes serve us)
            report.update(health())
        if self._probe is not None:
            report["reachable"], report["checked_at"] = self._probe[1] is None, self._probe[2]
            if self._probe[1] is not None:
                report["error"] = self._probe[1]
        return report

    async def probe(self, *, max_age: float) -> None:
        """Ping the open back end (at most once per ``max_age`` seconds), for `status`.

        Readiness probes come every few seconds from every load balancer; a ping per probe
        would cost a request (and on Cosmos DB, request units) each time.  The caller bounds
        the ping and reports a timeout with `probe_timed_out`.
        """
        if self._inner is None:
            return
        if self._probe is not None and trio.current_time() - self._probe[0] < max_age:
            return
        error: str | None = None
        try:
            await self._inner.ping()
        except StoreError as exc:
            error = str(exc) or type(exc).__name__
        self._note_probe(error)

    def probe_timed_out(self, seconds: float) -> None:
        self._note_probe(f"the store did not answer a ping within {seconds:g} s")

    def _note_probe(self, error: str | None) -> None:
        wall = datetime.now(UTC).isoformat(timespec="seconds")
        self._probe = (trio.current_time(), error, wall)
