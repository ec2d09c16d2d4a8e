"""The relay's process-wide parts and their lifetime: store, recorder, flusher, live calls.

`Relay.run_services` is started in the ASGI lifespan nursery (see `app.asgi`): it opens the store,
turns checkpoints left by a crash into documents, runs the spool flusher, and on the way out
drains live calls and closes the store.  Nothing here exists before start-up, so importing the
app creates no clients.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs
import trio

from app.agents import AgentCatalog, load_catalog
from app.live.hub import LiveHub
from app.live.projection import identity
from app.redaction import redacted_text
from app.registry import CallRegistry
from app.settings import Settings
from app.store.base import ConversationStore
from app.store.deferred import DeferredStore
from app.store.factory import open_store
from app.store.recorder import DurableRecorder
from app.store.spool import Spool
from app.store.spool_slots import own_spool
from app.tools import default_registry
from app.upstream import SimulatorConnector, UpstreamConnector, WebSocketConnector
from app.upstream_auth import upstream_url_and_auth

log = logging.getLogger(__name__)


def make_connector(settings: Settings) -> UpstreamConnector:
    """The upstream the settings point at: a Realtime endpoint, or the built-in simulator."""
    if settings.uses_simulator:
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
    """The process-wide parts.  The store and recorder exist from construction; the store's
    back end is opened by `start` (in the background if it is not reachable)."""

    settings: Settings
    connector: UpstreamConnector
    registry: CallRegistry
    catalog: AgentCatalog
    store_factory: StoreFactory = open_store
    store: DeferredStore = attrs.field(init=False)
    recorder: DurableRecorder = attrs.field(init=False)
    ready: bool = False
    live: LiveHub = attrs.Factory(LiveHub)  # the live board's watchers (see app.live_api)

    def __attrs_post_init__(self) -> None:
        self.store = DeferredStore(
            opener=self._open_store, name=self.settings.store_kind, on_open=self._store_opened
        )
        self.recorder = DurableRecorder(
            store=self.store,
            spool=Spool(self.settings.data_dir / "spool"),
            save_timeout=self.settings.save_timeout,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Relay:
        return cls(
            settings=settings,
            connector=make_connector(settings),
            registry=CallRegistry(
                max_calls=settings.max_calls,
                max_calls_per_customer=settings.max_calls_per_customer,
            ),
            catalog=load_catalog(default_registry()),
            live=LiveHub(scrub=redacted_text if settings.redact_pii else identity),
        )

    async def _open_store(self) -> ConversationStore:
        return await self.store_factory(self.settings)

    def _store_opened(self) -> None:
        self.recorder.wake()

    async def start(self, nursery: trio.Nursery) -> None:
        """Claim a spool slot, recover crashed calls, start the store's opener and the flusher
        in ``nursery``.

        Raises `StoreUnusableError` only for a store error that retrying cannot fix; an
        unreachable store is retried in the background while calls are served and spooled.
        A spool that cannot be claimed (``DATA_DIR`` unwritable) does not stop start-up either:
        calls go on, and ``/readyz`` and the metrics say that the spool is failing.
        """
        try:
            self.recorder.use_spool(await nursery.start(own_spool, self.settings.data_dir))
        except OSError as exc:
            self.recorder.spool_health.failed("claim a spool slot", exc)
        await self.recorder.recover()
        await nursery.start(self.store.keep_opening, STORE_STARTUP_WAIT)
        await nursery.start(self.recorder.run_flusher)
        self.ready = True

    async def stop(self) -> None:
        """End live calls (``server_shutdown``), wait for their saves, close the store."""
        self.ready = False
        await self.registry.drain(self.settings.shutdown_grace)
        with trio.CancelScope(shield=True), trio.move_on_after(STORE_CLOSE_TIMEOUT):
            await self.store.aclose()
