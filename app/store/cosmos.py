"""Conversation documents in an Azure Cosmos DB container (partition key ``/customer_id``).

Why threads: azure-cosmos's async client is asyncio-only (its retry loop calls
``asyncio.sleep``), so the store drives the synchronous ``CosmosClient`` through
``trio.to_thread.run_sync``, at most :data:`~app.store.cosmos_connect.CONNECTION_POOL_SIZE`
threads at once -- the size of the SDK's connection pool, so no thread waits for a connection
while holding a slot.

Resource handling: :meth:`CosmosStore.open` builds the process's one client in a worker thread
(with its credential) and makes sure the container exists; :meth:`CosmosStore.aclose` waits for
requests still in flight, then closes the client.  Requests are abandoned when their caller is
cancelled (that is what lets the recorder put a deadline on a save); the SDK's own timeouts
(:class:`~app.store.cosmos_connect.CosmosTimeouts`) bound how long an abandoned request keeps
its thread.  An abandoned save that lands later is harmless: saves are upserts of a
deterministic id, so the spooled copy rewrites the same document.

Error handling: the SDK's errors become :class:`StoreError` (the recorder spools the document),
except a document the service will never take (400, 413), which is
:class:`InvalidDocumentError`.  Throttling (429) is retried inside the SDK first.  A missing
database or container under Entra ID does not stop start-up: it is logged, :meth:`ping` (and so
``/readyz``) reports it, saves are spooled, and every later call checks again.

Containers made elsewhere: :meth:`CosmosStore.open` also checks that the container's indexing
policy serves the listings' three-property ``ORDER BY``, and adds the composite index when the
key allows (:mod:`~app.store.cosmos_index_check`).  When it cannot, or when the service refuses
a listing query later (an index update still running), the listings use the fallback queries
of :mod:`~app.store.cosmos_fallback`, which page identically; :meth:`CosmosStore.health` says
which is in use and what to run.  The policy is read again every
:data:`~app.store.cosmos_index_check.INDEX_RECHECK_INTERVAL` seconds while it is not known
good.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import attrs
import trio
from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosHttpResponseError

from app.settings import Settings
from app.store.base import InvalidDocumentError, Page, SaveOutcome, StoreError
from app.store.cosmos_connect import (
    CONNECTION_POOL_SIZE,
    CosmosAccount,
    CosmosTimeouts,
    CredentialFactory,
    NotProvisionedError,
    brief_error,
)
from app.store.cosmos_fallback import Listing, fallback_rows
from app.store.cosmos_index_check import INDEX_RECHECK_INTERVAL, IndexingWatch
from app.store.cosmos_indexing import MISSING_COMPOSITE_INDEX, IndexingStatus, MissingIndexError
from app.store.cosmos_schema import (
    COUNT_QUERY,
    TOKENS,
    Query,
    SortKey,
    checked_document,
    iso_bound,
    sort_key,
    without_system_properties,
)

__all__ = ["CosmosStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds :meth:`CosmosStore.aclose` waits for requests in flight before closing anyway
#: (less than the relay's 5 s bound on closing the store, so that the close itself fits).
CLOSE_WAIT = 3.0

#: Status codes that mean the document itself can never be stored.
_NEVER_STORABLE = frozenset({400, 413})


@attrs.define(eq=False)
class CosmosStore:
    """A :class:`~app.store.base.ConversationStore` in a Cosmos DB container."""

    account: CosmosAccount
    timeouts: CosmosTimeouts = attrs.field(factory=CosmosTimeouts)
    index_recheck_interval: float = INDEX_RECHECK_INTERVAL
    name: str = attrs.field(default="cosmos", init=False)
    _limiter: trio.CapacityLimiter = attrs.field(
        factory=lambda: trio.CapacityLimiter(CONNECTION_POOL_SIZE), init=False, repr=False
    )
    _closed: bool = attrs.field(default=False, init=False, repr=False)
    _indexing: IndexingWatch = attrs.field(
        default=attrs.Factory(
            lambda self: IndexingWatch(self.account, self.index_recheck_interval), takes_self=True
        ),
        init=False,
    )

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        credential_factory: CredentialFactory | None = None,
        timeouts: CosmosTimeouts | None = None,
        index_recheck_interval: float = INDEX_RECHECK_INTERVAL,
    ) -> CosmosStore:
        """Connect to ``settings.cosmos_endpoint`` and make sure the container is usable.

        ``credential_factory`` makes the Entra ID credential when there is no key (default:
        azure-identity's ``DefaultAzureCredential``); it is called in a worker thread.

        Raises :class:`StoreError` when the account cannot be reached or refuses the key.  A
        database, container or role that is missing under Entra ID is only logged (see the
        module docstring).  The container's indexing policy is checked, and completed when the
        key allows (:mod:`app.store.cosmos_index_check`); :meth:`health` tells the outcome.
        """
        timeouts = timeouts or CosmosTimeouts()
        connect = partial(CosmosAccount.connect, settings, credential_factory, timeouts)
        # Not abandoned on cancel: the client is either returned or closed, never leaked.
        account = await trio.to_thread.run_sync(connect)
        store = cls(account, timeouts, index_recheck_interval)
        try:
            try:
                await store._run(lambda container: None)
            except NotProvisionedError as exc:
                log.error("Cosmos DB is not ready for the relay: %s", exc)
            else:
                await store._indexing.check(store._run, store._options())
        except BaseException:
            with trio.CancelScope(shield=True):
                await store.aclose()
            raise
        log.info(
            "Cosmos DB store %s %s/%s (%s)",
            account.endpoint,
            account.database,
            account.container_name,
            "account key" if account.uses_key else "Entra ID",
        )
        return store

    async def save(self, doc: Mapping[str, Any], *, overwrite: bool = True) -> SaveOutcome:
        """Upsert ``doc`` (or create it if absent); the outcome carries the RU charge."""
        options = self._options()

        def write(container: ContainerProxy) -> float | None:
            # Checked here, in the worker thread: a long call's transcript is not small.
            body = checked_document(doc)
            try:
                if overwrite:
                    result = container.upsert_item(body, no_response=True, **options)
                else:
                    result = container.create_item(body, no_response=True, **options)
            except CosmosHttpResponseError as exc:
                if exc.status_code == 409 and not overwrite:
                    return _charge(exc.headers)  # already stored: leave it as it is
                if exc.status_code in _NEVER_STORABLE:
                    raise InvalidDocumentError(
                        f"Cosmos DB refused conversation {body['id']}: {brief_error(exc)}"
                    ) from exc
                raise
            return _charge(result.get_response_headers())

        return SaveOutcome(request_charge=await self._run(write))

    async def count(self) -> int:
        values = await self._run_query(Query(COUNT_QUERY, ()))
        return sum(int(value) for value in values)

    async def recent(
        self, *, limit: int, customer_id: str | None = None, continuation: str | None = None
    ) -> Page:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        after = None if continuation is None else TOKENS.decode(continuation)
        # One document more than asked tells whether another page exists, so the last page
        # never carries a token that leads to an empty page.
        listing = Listing(need=limit + 1, newest_first=True, customer_id=customer_id, after=after)
        docs = await self._listing_rows(listing)
        page = docs[:limit]
        token = TOKENS.encode(sort_key(page[-1])) if len(docs) > limit else None
        return Page(items=tuple(page), continuation=token)

    async def get(self, customer_id: str, doc_id: str) -> dict[str, Any] | None:
        options = self._options()

        def read(container: ContainerProxy) -> dict[str, Any] | None:
            try:
                item = container.read_item(doc_id, partition_key=customer_id, **options)
            except CosmosHttpResponseError as exc:
                if exc.status_code == 404:
                    return None
                raise
            return without_system_properties(item)

        return await self._run(read)

    async def export(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[dict[str, Any], None]:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        lower = None if since is None else iso_bound("since", since)
        upper = None if until is None else iso_bound("until", until)
        after: SortKey | None = None
        while True:
            listing = Listing(
                need=page_size, newest_first=False, since=lower, until=upper, after=after
            )
            docs = await self._listing_rows(listing)
            for doc in docs:
                yield doc
            if len(docs) < page_size:
                return
            after = sort_key(docs[-1])

    @property
    def indexing(self) -> IndexingStatus:
        """Whether the container's indexes serve the listings (see :meth:`health`)."""
        return self._indexing.status

    def health(self) -> dict[str, Any]:
        """The store's state for ``/readyz``'s body, without a request: ``{"indexing": {...}}``
        with ``state``, ``listing_queries``, ``detail`` and, when the relay could not add a
        missing index itself, ``fix`` (the ``az`` command that adds it)."""
        return {"indexing": self._indexing.status.as_json()}

    async def ping(self) -> None:
        options = self._options()
        await self._run(lambda container: container.read(**options))

    async def aclose(self) -> None:
        """Wait (at most :data:`CLOSE_WAIT` s) for requests in flight, then close the client."""
        if self._closed:
            return
        self._closed = True
        with trio.move_on_after(CLOSE_WAIT):
            for _ in range(int(self._limiter.total_tokens)):
                await self._limiter.acquire_on_behalf_of(object())
        # Not abandoned on cancel: once the close starts it finishes.
        await trio.to_thread.run_sync(self.account.close)

    def _options(self) -> dict[str, Any]:
        """Per-request keyword arguments: the SDK's absolute timeout for one operation."""
        return {"timeout": self.timeouts.operation}

    async def _listing_rows(self, listing: Listing) -> list[dict[str, Any]]:
        """One page of a listing: the composite query when the indexes serve it, else the
        fallback queries (which a refused composite query also falls back to)."""
        if self._indexing.due():
            await self._indexing.check(self._run, self._options())
        if self._indexing.status.listing_queries == "composite":
            try:
                rows: list[dict[str, Any]] = await self._run_query(listing.composite_query())
            except MissingIndexError:
                await self._indexing.check(self._run, self._options(), refused=True)
            else:
                return rows
        return await fallback_rows(listing, self._run_query)

    async def _run_query(self, query: Query) -> list[Any]:
        return await self._run(partial(self._query, query))

    def _query(self, query: Query, container: ContainerProxy) -> list[Any]:
        """All results of ``query`` (bounded by its ``TOP``), in a worker thread.

        Raises :class:`MissingIndexError` when no composite index serves its ``ORDER BY``.
        """
        try:
            return self._results(query, container)
        except CosmosHttpResponseError as exc:
            if exc.status_code == 400 and MISSING_COMPOSITE_INDEX in str(exc.message):
                raise MissingIndexError(
                    f"Cosmos DB {self.account.endpoint}: {brief_error(exc)}"
                ) from exc
            raise

    def _results(self, query: Query, container: ContainerProxy) -> list[Any]:
        if query.partition_key is None:
            items = container.query_items(
                query.text,
                parameters=query.sdk_parameters(),
                enable_cross_partition_query=True,
                **self._options(),
            )
        else:
            items = container.query_items(
                query.text,
                parameters=query.sdk_parameters(),
                partition_key=query.partition_key,
                **self._options(),
            )
        return [
            without_system_properties(item) if isinstance(item, dict) else item for item in items
        ]

    async def _run(self, fn: Callable[[ContainerProxy], T]) -> T:
        """Run ``fn(container)`` in a worker thread, translating the SDK's errors."""
        if self._closed:
            raise StoreError(f"Cosmos DB store {self.account.endpoint} is closed")
        return await trio.to_thread.run_sync(
            self._call, fn, limiter=self._limiter, abandon_on_cancel=True
        )

    def _call(self, fn: Callable[[ContainerProxy], T]) -> T:
        # In the worker thread.  Checked again: aclose() may have run while this waited.
        if self._closed:
            raise StoreError(f"Cosmos DB store {self.account.endpoint} is closed")
        container = self.account.container()
        try:
            return fn(container)
        except AzureError as exc:  # CosmosHttpResponseError included
            raise StoreError(f"Cosmos DB {self.account.endpoint}: {brief_error(exc)}") from exc


def _charge(headers: Mapping[str, str]) -> float | None:
    """The request charge (RU) of a response, from its ``x-ms-request-charge`` header."""
    value = headers.get("x-ms-request-charge")
    try:
        return None if value is None else float(value)
    except ValueError:
        return None
