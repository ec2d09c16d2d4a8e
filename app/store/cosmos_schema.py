"""What the Cosmos DB container looks like and how the relay queries it (no SDK, no I/O).

The container is partitioned by ``/customer_id``.  Its indexing policy indexes only what the
relay's queries filter and sort on, so that writing a long transcript does not pay for indexing
every message (the request charge of a write grows with the number of indexed terms):

- ``/customer_id`` -- the partition key, for the by-customer listing;
- ``/session_start`` -- for the date-range export;
- one composite index ``(session_start, id, customer_id)``, which serves the newest-first listing
  (its exact reverse) and the oldest-first export.  ``id`` is always indexed.

``infra/modules/cosmos/cosmos.bicep`` declares the same policy, and a test holds the two together.

Paging: every page is a fresh ``SELECT TOP @n ... ORDER BY`` query resumed after the last row's
sort key (keyset paging), and the continuation token handed to clients is that key.  Why not the
SDK's own continuation tokens: the Python SDK cannot resume a cross-partition ``ORDER BY`` query
from one, and ``OFFSET``/``LIMIT`` charges for every skipped row (and the local test server does
not implement it).  The order ``(session_start, id, customer_id)`` is total -- ids are unique
only within a partition -- so a page boundary neither skips nor repeats a document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from app.record.document import FORBIDDEN_ID_CHARACTERS
from app.store.base import InvalidDocumentError, document_key
from app.store.paging import SortKey, TokenCodec, iso_bound

__all__ = [
    "COUNT_QUERY",
    "INDEXING_POLICY",
    "PARTITION_KEY_PATH",
    "TOKENS",
    "Query",
    "SortKey",
    "checked_document",
    "export_query",
    "iso_bound",
    "recent_query",
    "sort_key",
    "without_system_properties",
]

PARTITION_KEY_PATH = "/customer_id"

INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/customer_id/?"}, {"path": "/session_start/?"}],
    "excludedPaths": [{"path": "/*"}],
    "compositeIndexes": [
        [
            {"path": "/session_start", "order": "ascending"},
            {"path": "/id", "order": "ascending"},
            {"path": "/customer_id", "order": "ascending"},
        ]
    ],
}

#: The seed's dashboard figure.
COUNT_QUERY = "SELECT VALUE COUNT(1) FROM c"

#: Properties Cosmos DB adds to every item; stripped so that what is read equals what was saved.
SYSTEM_PROPERTIES = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})

#: Characters Cosmos DB refuses in an item id.
_MAX_ID_LENGTH = 255

#: Continuation tokens of this store (refused by the SQLite store, and the other way round).
TOKENS = TokenCodec("cosmos-1")


def _beyond(op: str) -> str:
    """Rows whose sort key is beyond ``(@start, @id, @customer)`` in the ``op`` direction.

    Spelled out because Cosmos DB SQL has no row-value comparison.
    """
    return (
        f"(c.session_start {op} @start OR (c.session_start = @start AND "
        f"(c.id {op} @id OR (c.id = @id AND c.customer_id {op} @customer))))"
    )


@attrs.frozen
class Query:
    """A parameterized query, and the partition it is confined to (``None``: all of them)."""

    text: str
    parameters: tuple[tuple[str, object], ...]
    partition_key: str | None = None

    def sdk_parameters(self) -> list[dict[str, object]]:
        return [{"name": name, "value": value} for name, value in self.parameters]


def recent_query(*, limit: int, customer_id: str | None, after: SortKey | None) -> Query:
    """Up to ``limit`` documents newest first, after the sort key ``after`` when given.

    With ``customer_id`` the query is confined to that customer's partition.
    """
    where: list[str] = []
    params: list[tuple[str, object]] = [("@n", limit)]
    if customer_id is not None:
        where.append("c.customer_id = @customer_id")
        params.append(("@customer_id", customer_id))
    if after is not None:
        where.append(_beyond("<"))
        params.extend(_key_parameters(after))
    text = "SELECT TOP @n * FROM c"
    if where:
        text += " WHERE " + " AND ".join(where)
    text += " ORDER BY c.session_start DESC, c.id DESC, c.customer_id DESC"
    return Query(text, tuple(params), customer_id)


def export_query(
    *, page_size: int, since: str | None, until: str | None, after: SortKey | None
) -> Query:
    """Up to ``page_size`` documents with ``since <= session_start < until``, oldest first."""
    where: list[str] = []
    params: list[tuple[str, object]] = [("@n", page_size)]
    if since is not None:
        where.append("c.session_start >= @since")
        params.append(("@since", since))
    if until is not None:
        where.append("c.session_start < @until")
        params.append(("@until", until))
    if after is not None:
        where.append(_beyond(">"))
        params.extend(_key_parameters(after))
    text = "SELECT TOP @n * FROM c"
    if where:
        text += " WHERE " + " AND ".join(where)
    text += " ORDER BY c.session_start ASC, c.id ASC, c.customer_id ASC"
    return Query(text, tuple(params))


def _key_parameters(key: SortKey) -> list[tuple[str, object]]:
    return [("@start", key[0]), ("@id", key[1]), ("@customer", key[2])]


def sort_key(doc: Mapping[str, Any]) -> SortKey:
    return str(doc["session_start"]), str(doc["id"]), str(doc["customer_id"])


def checked_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` as a plain dict Cosmos DB accepts; :class:`InvalidDocumentError` if it never will.

    Checked here rather than left to the service so that the error is the same as SQLite's and
    costs no request: the key, a string ``session_start``, an id Cosmos allows, and JSON that
    round-trips (no NaN, no datetime objects).
    """
    _, doc_id = document_key(doc)
    session_start = doc.get("session_start")
    if not isinstance(session_start, str) or not session_start:
        raise InvalidDocumentError(f"conversation {doc_id} has no string 'session_start'")
    if len(doc_id) > _MAX_ID_LENGTH or FORBIDDEN_ID_CHARACTERS.intersection(doc_id):
        raise InvalidDocumentError(
            f"conversation id {doc_id!r} is not a valid Cosmos DB id "
            f"(at most {_MAX_ID_LENGTH} characters, none of / \\ ? #)"
        )
    try:
        json.dumps(dict(doc), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidDocumentError(f"conversation {doc_id} is not JSON: {exc}") from exc
    return dict(doc)


def without_system_properties(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in SYSTEM_PROPERTIES}
