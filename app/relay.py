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
from app.registry import CallRegistry
from app.settings import Settings
from app.store.base import ConversationStore
from app.store.factory import open_store
from app.store.recorder import DurableRecorder
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


@attrs.define(eq=False)
class Relay:
    settings: Settings
    connector: UpstreamConnector
    registry: CallRegistry
    catalog: AgentCatalog
    store_factory: StoreFactory = open_store
    store: ConversationStore | None = None
    recorder: DurableRecorder | None = None
    ready: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Relay:
        return cls(
            settings=settings,
            connector=make_connector(settings),
            registry=CallRegistry(max_calls=settings.max_calls),
            catalog=load_catalog(default_registry()),
        )

    async def start(self, nursery: trio.Nursery) -> None:
        """Open the store, recover crashed calls, start the flusher in ``nursery``."""
        self.store = await self.store_factory(self.settings)
        spool = await nursery.start(own_spool, self.settings.data_dir)
        self.recorder = DurableRecorder(
            store=self.store, spool=spool, save_timeout=self.settings.save_timeout
        )
        await self.recorder.recover()
        await nursery.start(self.recorder.run_flusher)
        self.ready = True

    async def stop(self) -> None:
        """End live calls (``server_shutdown``), wait for their saves, close the store."""
        self.ready = False
        await self.registry.drain(self.settings.shutdown_grace)
        if self.store is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await self.store.aclose()
