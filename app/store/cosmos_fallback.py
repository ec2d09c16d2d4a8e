"""Listings served by queries that Cosmos DB's default indexing policy supports.

Why: on a container without the listing's composite index (see
:mod:`app.store.cosmos_indexing`), ``ORDER BY c.session_start, c.id, c.customer_id`` is refused.
A single-property ``ORDER BY c.session_start`` is served by the range index every default policy
has, but it leaves documents with the same ``session_start`` (ties) in no particular order, and a
``TOP n`` may cut through such a tie group.  So ties are resolved here, on the client, on the
rest of the key ``(id, customer_id)``:

1. after a continuation key, the rest of its tie group is read whole (``session_start = @start``)
   and the rows beyond the key are kept, in key order;
2. then ``TOP want`` rows strictly beyond the key's ``session_start``; when the answer is full,
   its last ``session_start`` may be a tie group cut short, so those rows are replaced by the
   whole group.

The result is a prefix of the remaining rows in the same total order the composite query gives,
so pages are the same, continuation tokens are interchangeable between the two ways, and a page
boundary neither skips nor repeats a document.  The cost: one or two more queries per page, and
a tie group is read whole (ties on a microsecond timestamp are few; a bulk import could make
more).  Only documents with a string ``session_start`` are listed -- every relay document has
one, and the key needs it.

:func:`fallback_rows` takes the function that runs a query, so the logic is tested with an
in-memory one as well as against the local Cosmos server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from app.store.cosmos_schema import Query, SortKey, export_query, recent_query, sort_key

__all__ = ["Listing", "RunQuery", "fallback_rows"]

RunQuery = Callable[[Query], Awaitable[list[Any]]]


@attrs.frozen
class Listing:
    """One page of a listing: ``need`` rows after ``after`` in the listing's total order.

    Newest first (``recent``), optionally one customer's; or oldest first (``export``),
    optionally with ``since <= session_start < until`` (ISO 8601 text).
    """

    need: int
    newest_first: bool
    customer_id: str | None = None
    after: SortKey | None = None
    since: str | None = None
    until: str | None = None

    def composite_query(self) -> Query:
        """The one query that serves the page when the composite index exists."""
        if self.newest_first:
            return recent_query(limit=self.need, customer_id=self.customer_id, after=self.after)
        return export_query(
            page_size=self.need, since=self.since, until=self.until, after=self.after
        )

    def beyond(self, key: SortKey, bound: SortKey) -> bool:
        """Whether ``key`` comes after ``bound`` in this listing's order."""
        return key < bound if self.newest_first else key > bound

    def ordered(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(docs, key=sort_key, reverse=self.newest_first)

    def batch_query(self, want: int) -> Query:
        """``TOP want`` rows beyond ``after``'s ``session_start``, sorted by it alone."""
        where, params = self._filters()
        params.append(("@n", want))
        if self.after is not None:
            where.append(f"c.session_start {'<' if self.newest_first else '>'} @start")
            params.append(("@start", self.after[0]))
        if self.after is None and self.since is None and self.until is None:
            # Otherwise a comparison on session_start already lets only strings through.
            where.append("IS_STRING(c.session_start)")
        direction = "DESC" if self.newest_first else "ASC"
        text = "SELECT TOP @n * FROM c WHERE " + " AND ".join(where)
        text += f" ORDER BY c.session_start {direction}"
        return Query(text, tuple(params), self.customer_id)

    def group_query(self, start: str) -> Query:
        """Every row whose ``session_start`` is ``start``: one tie group, unordered."""
        where, params = self._filters()
        where.append("c.session_start = @start")
        params.append(("@start", start))
        return Query(
            "SELECT * FROM c WHERE " + " AND ".join(where), tuple(params), self.customer_id
        )

    def _filters(self) -> tuple[list[str], list[tuple[str, object]]]:
        """The conditions every query of this listing has: its customer, its date range."""
        where: list[str] = []
        params: list[tuple[str, object]] = []
        if self.customer_id is not None:
            where.append("c.customer_id = @customer_id")
            params.append(("@customer_id", self.customer_id))
        if self.since is not None:
            where.append("c.session_start >= @since")
            params.append(("@since", self.since))
        if self.until is not None:
            where.append("c.session_start < @until")
            params.append(("@until", self.until))
        return where, params


async def fallback_rows(listing: Listing, run: RunQuery) -> list[dict[str, Any]]:
    """Up to ``listing.need`` rows, in the listing's total order, from single-property sorts."""
    rows: list[dict[str, Any]] = []
    if listing.after is not None:
        after = listing.after
        tied = _dated(await run(listing.group_query(after[0])))
        rows = listing.ordered([doc for doc in tied if listing.beyond(sort_key(doc), after)])
        if len(rows) >= listing.need:
            return rows[: listing.need]
    want = listing.need - len(rows)
    batch = _dated(await run(listing.batch_query(want)))
    if len(batch) >= want:
        # The last session_start may be a tie group cut short by TOP: read all of it.
        edge = batch[-1]["session_start"]
        batch = [doc for doc in batch if doc["session_start"] != edge]
        batch += _dated(await run(listing.group_query(edge)))
    rows += listing.ordered(batch)
    return rows[: listing.need]


def _dated(docs: list[Any]) -> list[dict[str, Any]]:
    """The documents that have a string ``session_start`` (the queries ask for nothing else)."""
    return [
        doc for doc in docs if isinstance(doc, dict) and isinstance(doc.get("session_start"), str)
    ]
