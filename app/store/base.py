"""The interface every conversation store implements, and the values it trades in.

The relay writes one document per call and the admin API reads them back.  Two back ends sit
behind this interface: the embedded SQLite store (the default) and Azure Cosmos DB.  The shape
follows what Cosmos can do cheaply, so that SQLite never promises something Cosmos cannot keep:

- documents are addressed by ``(customer_id, id)`` -- Cosmos's partition key and item id;
- listings are paged with opaque continuation tokens, never offsets;
- exports are streamed page by page, never materialised in memory.

Error handling: anything that means "the store could not do it right now" (unreachable, timed
out, throttled, refused, closed) is raised as :class:`StoreError`, which the recorder answers by
spooling the document to disk and retrying later.  A document that no store could ever accept
(no ``id``, not JSON) is a bug in the caller and raises :class:`InvalidDocumentError` instead, so
that it is not retried forever.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from datetime import datetime
from typing import Any, Protocol

import attrs

__all__ = [
    "ConversationStore",
    "InvalidDocumentError",
    "Page",
    "SaveOutcome",
    "StoreError",
    "StoreUnusableError",
    "document_key",
]


class StoreError(Exception):
    """The store could not do what was asked (unreachable, timed out, refused)."""


class StoreUnusableError(StoreError):
    """The store refuses the relay in a way that retrying cannot fix.

    A rejected key, a TLS certificate that does not verify, an endpoint that is not a store:
    start-up stops with this message instead of retrying (and spooling) forever.
    """


class InvalidDocumentError(ValueError):
    """The document can never be stored: a required field is missing or it is not JSON.

    Retrying cannot help, so the recorder quarantines such documents instead of spooling them
    for another attempt.
    """


@attrs.frozen
class Page:
    """One page of a listing, newest first.

    ``continuation`` is an opaque token for the next page, or ``None`` when this is the last.
    """

    items: tuple[dict[str, Any], ...]
    continuation: str | None


@attrs.frozen
class SaveOutcome:
    """What a save cost.  ``request_charge`` is Cosmos's RU charge; ``None`` for SQLite."""

    request_charge: float | None = None


class ConversationStore(Protocol):
    """Where conversation documents live.

    Implementations never block the event loop: blocking clients run in worker threads.
    Every method may raise :class:`StoreError`; none swallows :class:`trio.Cancelled`.
    """

    #: Short back-end name ("sqlite", "cosmos") for logs and ``/readyz``.
    name: str

    async def save(self, doc: Mapping[str, Any], *, overwrite: bool = True) -> SaveOutcome:
        """Upsert ``doc`` by ``(customer_id, id)``; the same document twice is stored once.

        With ``overwrite=False`` the document is inserted only if absent: crash recovery uses
        it so that a partial checkpoint never replaces a complete document.

        Raises :class:`StoreError` when the store is unusable and
        :class:`InvalidDocumentError` when the document lacks ``id``, ``customer_id`` or
        ``session_start`` or is not JSON-serialisable.
        """
        ...

    async def count(self) -> int:
        """Number of stored documents."""
        ...

    async def recent(
        self, *, limit: int, customer_id: str | None = None, continuation: str | None = None
    ) -> Page:
        """Up to ``limit`` documents, newest ``session_start`` first, then ``id`` descending.

        Raises :class:`ValueError` for a continuation token this store did not issue.
        """
        ...

    async def get(self, customer_id: str, doc_id: str) -> dict[str, Any] | None:
        """One document, or ``None`` when there is none with that key."""
        ...

    def export(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every document with ``since <= session_start < until``, oldest first.

        Fetched ``page_size`` at a time, so memory stays flat however large the export.  The
        bounds must be timezone-aware (:class:`ValueError` otherwise).  Typed as an async
        generator rather than an iterator so that a consumer stopping early (a client that
        went away mid-download) can close it deterministically with ``contextlib.aclosing``.
        """
        ...

    async def ping(self) -> None:
        """Return when the store is usable; raise :class:`StoreError` when not (``/readyz``)."""
        ...

    async def aclose(self) -> None:
        """Release the store's resources.  Idempotent."""
        ...


def document_key(doc: Mapping[str, Any]) -> tuple[str, str]:
    """Return ``(customer_id, id)`` of ``doc``, the key every store addresses documents by.

    Raises :class:`InvalidDocumentError` when either is missing or not a non-empty string.
    """
    customer_id = doc.get("customer_id")
    doc_id = doc.get("id")
    if not isinstance(customer_id, str) or not customer_id:
        raise InvalidDocumentError("conversation document has no string 'customer_id'")
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidDocumentError("conversation document has no string 'id'")
    return customer_id, doc_id
