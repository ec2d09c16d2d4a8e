"""A store with a gate the test controls in front of the real SQLite store.

Saves can be made to hang until released, or to fail, and the test is told (by events) when a
save starts and when one reaches SQLite."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from datetime import datetime
from typing import Any

import attrs
import trio

from app.settings import Settings
from app.store.base import ConversationStore, Page, SaveOutcome, StoreError
from app.store.sqlite import SQLiteStore


@attrs.define(eq=False)
class GatedStore:
    inner: SQLiteStore
    mode: str = "open"  # "open", "hang" (until `gate` is set) or "fail"
    gate: trio.Event = attrs.field(factory=trio.Event)
    save_started: trio.Event = attrs.field(factory=trio.Event)
    stored: trio.Event = attrs.field(factory=trio.Event)
    stored_count: int = 0
    name: str = "sqlite"

    async def save(self, doc: Mapping[str, Any], *, overwrite: bool = True) -> SaveOutcome:
        self.save_started.set()
        if self.mode == "fail":
            raise StoreError("the store is down (test)")
        if self.mode == "hang":
            await self.gate.wait()
        outcome = await self.inner.save(doc, overwrite=overwrite)
        self.stored_count += 1
        self.stored.set()
        return outcome

    async def count(self) -> int:
        return await self.inner.count()

    async def recent(
        self, *, limit: int, customer_id: str | None = None, continuation: str | None = None
    ) -> Page:
        return await self.inner.recent(
            limit=limit, customer_id=customer_id, continuation=continuation
        )

    async def get(self, customer_id: str, doc_id: str) -> dict[str, Any] | None:
        return await self.inner.get(customer_id, doc_id)

    def export(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[dict[str, Any], None]:
        return self.inner.export(since=since, until=until, page_size=page_size)

    async def ping(self) -> None:
        await self.inner.ping()

    async def aclose(self) -> None:
        pass  # the test closes the inner store itself, after reading it


def factory_for(store: ConversationStore) -> Any:
    async def factory(settings: Settings) -> ConversationStore:
        return store

    return factory
