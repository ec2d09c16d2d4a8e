"""The relay's process-wide parts and their lifetime: store, recorder, flusher, live calls.

`Relay.run_services` is started in the ASGI lifespan nursery (see `app.web.asgi`): it opens the
store,
turns checkpoints left by a crash into documents, runs the spool flusher, and on the way out
drains live calls and closes the store.  Nothing here exists before start-up, so importing the
app creates no clients.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

import attrs
import trio

from app.admission.registry import CallRegistry
from app.agents import AgentCatalog, load_catalog
from app.live.hub import LiveHub
from app.live.projection import identity
from app.model.upstream import UpstreamConnector, WebSocketConnector
from app.model.upstream_auth import upstream_url_and_auth
from app.record.redaction import redacted_text
from app.recording.service import RecordingService
from app.settings import Settings
from app.store.base import ConversationStore
from app.store.deferred import DeferredStore
from app.store.factory import open_store
from app.store.recorder import DurableRecorder
from app.store.recording_retention import keep_pruning
from app.store.spool import Spool
from app.store.spool_leases import keep_named_spool
from app.store.spool_slots import own_spool
from app.tools import default_registry

log = logging.getLogger(__name__)


def make_connector(settings: Settings) -> UpstreamConnector:
    """The upstream the settings point at: a Realtime endpoint, or the built-in simulator."""
    if settings.uses_simulator:
        # Imported here: a relay with a real upstream never loads the simulator.
        from app.model.simulator_upstream import SimulatorConnector

        return SimulatorConnector()
    url, auth = upstream_url_and_auth(settings)
    return WebSocketConnector(url, auth)


StoreFactory = Callable[[Settings], Awaitable[ConversationStore]]

#: How long start-up waits for the store's first answer before serving calls without it.
STORE_STARTUP_WAIT = 5.0
#: Bound on closing the store at shutdown (requests in flight finish first).
STORE_CLOSE_TIMEOUT = 5.0


@attrs.define(eq=False)
class Relay:
    """The process-wide parts, built whole: nothing is missing or ``None`` after construction.

    The store is a `DeferredStore` whose back end `start` opens (in the background if it is not
    reachable); the recorder writes to it or to the spool.  Build one with `from_settings`,
    passing any part a test or an embedding program wants to choose.
    """

    settings: Settings
    connector: UpstreamConnector
    registry: CallRegistry
    catalog: AgentCatalog
    store: DeferredStore
    recorder: DurableRecorder
    live: LiveHub
    #: Call recording (``RECORD_CALLS``); None when it is off.
    recordings: RecordingService | None = None
    ready: bool = False
    _closed: bool = attrs.field(default=False, init=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        connector: UpstreamConnector | None = None,
        store_factory: StoreFactory = open_store,
    ) -> Relay:
        """The relay the settings describe; ``connector`` and ``store_factory`` replace the
        upstream and the store back end they would choose."""

        async def open_back_end() -> ConversationStore:
            return await store_factory(settings)

        store = DeferredStore(opener=open_back_end, name=settings.store_kind)
        recorder = DurableRecorder(
            store=store,
            spool=Spool(settings.data_dir / "spool"),  # until `start` claims a slot
            save_timeout=settings.save_timeout,
        )
        store.on_open = recorder.wake  # the spool flushes as soon as the store is back
        return cls(
            settings=settings,
            connector=connector or make_connector(settings),
            registry=CallRegistry(
                max_calls=settings.max_calls,
                max_calls_per_customer=settings.max_calls_per_customer,
            ),
            catalog=load_catalog(default_registry()),
            store=store,
            recorder=recorder,
            live=LiveHub(scrub=redacted_text if settings.redact_pii else identity),
            recordings=(
                RecordingService.from_settings(
                    data_dir=settings.data_dir,
                    account_url=settings.azure_storage_account_url,
                    connection_string=settings.azure_storage_connection_string,
                    max_call_seconds=settings.call_max_duration,
                )
                if settings.record_calls
                else None
            ),
        )

    async def start(self, nursery: trio.Nursery) -> None:
        """Claim a spool (a locked slot, or a named one with ``SPOOL_LOCKS=false``), recover
        crashed calls, start the store's opener and the flusher in ``nursery``.

        Raises `StoreUnusableError` only for a store error that retrying cannot fix; an
        unreachable store is retried in the background while calls are served and spooled.
        A spool that cannot be claimed (``DATA_DIR`` unwritable) does not stop start-up either:
        calls go on, and ``/readyz`` and the metrics say that the spool is failing.
        """
        data_dir = self.settings.data_dir
        recordings = self.recordings
        # With RECORD_CALLS, every recovery of a dead call's checkpoint also seals its recording.
        amend = recordings.amend_checkpoint if recordings is not None else None
        try:
            if self.settings.spool_locks:
                spool = await nursery.start(own_spool, data_dir)
            else:  # a share between hosts: a named spool with a lease, no file locks
                keeper = partial(keep_named_spool, on_adopted=self._adopted, amend=amend)
                spool = await nursery.start(keeper, data_dir)
            self.recorder.use_spool(spool)
        except OSError as exc:
            self.recorder.spool_health.failed("claim a spool slot", exc)
        if recordings is not None:
            try:
                await recordings.start(nursery)
            except OSError as exc:
                # Calls go on (each recording logs its own disk errors); the voice comes first.
                log.error("Call recording cannot use %s: %s", recordings.directory, exc)
        await self.recorder.recover(amend)
        if self.recordings is not None:
            self.recordings.wake()  # recordings the recovery sealed are committed now
        await nursery.start(self.store.keep_opening, STORE_STARTUP_WAIT)
        await nursery.start(self.recorder.run_flusher)
        # Local recordings expire with their documents (the folder app.recording's readers read).
        await nursery.start(keep_pruning, self.settings.data_dir / "recordings", self.store)
        self.ready = True

    def _adopted(self) -> None:
        """Another process's spool was adopted: its documents and recordings are due now."""
        self.recorder.wake()
        if self.recordings is not None:
            self.recordings.wake()

    async def drain(self) -> None:
        """Refuse new calls, end live calls (``server_shutdown``) and wait for their saves.

        Called by ``python -m app``'s signal handler while hypercorn still serves (so browsers
        get their close frames), and again by `aclose`; the second time there is nothing left.
        """
        self.ready = False
        await self.registry.drain(self.settings.shutdown_grace)

    async def aclose(self) -> None:
        """The lifespan's end: drain (if nobody did), then close the store.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.drain()
        with trio.CancelScope(shield=True), trio.move_on_after(STORE_CLOSE_TIMEOUT):
            await self.store.aclose()
