"""Whether a container's indexing policy serves the relay's queries, and what to add if not.

No SDK, no I/O: :mod:`app.store.cosmos_index_check` reads and replaces the policy; this module
only looks at it.

Why: many accounts already have an ``AI_Conversations`` container, made by an earlier
deployment with Cosmos DB's default indexing policy (every path range-indexed, no composite
index).  Cosmos DB serves an ``ORDER BY`` over several properties only from a composite index
declared in the same directions or their exact reverse, and answers 400 ("The order by query
does not have a corresponding composite index that it can be served from.") otherwise.  The
relay's listings sort by ``(session_start, id, customer_id)``; on such a container they need
either that composite index, or the fallback queries (:mod:`app.store.cosmos_fallback`), which
sort by ``session_start`` alone -- served by the range index every default policy has.

What the relay adds to a policy is the least that serves it: the composite index, and a range
index on ``/session_start`` when the policy leaves that path out.  Nothing is removed, so the
other indexes the container's owner chose stay.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from app.store.base import StoreError
from app.store.cosmos_schema import INDEXING_POLICY

__all__ = [
    "LISTING_INDEX",
    "IndexingState",
    "IndexingStatus",
    "ListingQueries",
    "MissingIndexError",
    "PolicyUpdate",
    "az_update_command",
    "has_listing_index",
    "is_range_indexed",
    "policy_update",
]

#: The composite index the relay's listings are served from (ascending; Cosmos DB also serves
#: the newest-first listing from it, its exact reverse).
LISTING_INDEX: list[dict[str, str]] = INDEXING_POLICY["compositeIndexes"][0]

#: The path the fallback queries sort on by itself.
SORT_PATH = "/session_start"

#: ``unchecked``: the container has not been read yet; ``ok``: its policy serves the relay's
#: queries; ``added``: the relay added what was missing (an online index update); ``building``:
#: the policy has the index but the service refused a query that needs it (the update is still
#: running); ``missing``: it is missing and the relay could not add it.  In the last two the
#: listings use the fallback queries.
IndexingState = Literal["unchecked", "ok", "added", "building", "missing"]
#: Which queries serve the listings: the composite ``ORDER BY`` or the fallback.
ListingQueries = Literal["composite", "fallback"]


#: What Cosmos DB says (HTTP 400) about an ORDER BY no composite index serves.
MISSING_COMPOSITE_INDEX = "does not have a corresponding composite index"


class MissingIndexError(StoreError):
    """Cosmos DB refused a listing query: no composite index serves its ``ORDER BY``."""


@attrs.frozen
class IndexingStatus:
    """What the store knows about its container's indexes, for the log and ``/readyz``."""

    state: IndexingState
    listing_queries: ListingQueries
    detail: str
    #: The command that adds what is missing, when the relay could not.
    fix: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "state": self.state,
            "listing_queries": self.listing_queries,
            "detail": self.detail,
        }
        if self.fix is not None:
            body["fix"] = self.fix
        return body


@attrs.frozen
class PolicyUpdate:
    """A policy that serves the relay's queries, and what it adds (empty: nothing was missing)."""

    policy: dict[str, Any]
    changes: tuple[str, ...]


def _orders(index: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    # A composite path without "order" is ascending.
    return [(str(p.get("path")), str(p.get("order", "ascending")).lower()) for p in index]


def has_listing_index(policy: Mapping[str, Any]) -> bool:
    """Whether ``policy`` has the listing's composite index, in either direction."""
    wanted = _orders(LISTING_INDEX)
    flipped = {"ascending": "descending", "descending": "ascending"}
    reverse = [(path, flipped[order]) for path, order in wanted]
    indexes = policy.get("compositeIndexes") or []
    return any(_orders(index) in (wanted, reverse) for index in indexes)


def _paths(entries: Any) -> set[str]:
    return {str(e.get("path")) for e in entries or [] if isinstance(e, Mapping)}


def is_range_indexed(policy: Mapping[str, Any], path: str) -> bool:
    """Whether the scalar at ``path`` is indexed, so that ``ORDER BY`` on it is served.

    The most precise matching path wins, as in Cosmos DB: ``path/?``, then ``path/*``, then
    ``/*``.  A policy that lists no included paths includes ``/*`` (the default).
    """
    if str(policy.get("indexingMode", "consistent")).lower() == "none":
        return False
    included = _paths(policy.get("includedPaths")) if "includedPaths" in policy else {"/*"}
    excluded = _paths(policy.get("excludedPaths"))
    for candidate in (f"{path}/?", f"{path}/*", "/*"):
        if candidate in excluded:
            return False
        if candidate in included:
            return True
    return False


def policy_update(policy: Mapping[str, Any]) -> PolicyUpdate:
    """``policy`` with what the relay's queries need added; nothing of it is removed."""
    updated: dict[str, Any] = copy.deepcopy(dict(policy))
    changes: list[str] = []
    if not is_range_indexed(updated, SORT_PATH):
        excluded = [
            entry
            for entry in updated.get("excludedPaths") or []
            if entry.get("path") not in (f"{SORT_PATH}/?", f"{SORT_PATH}/*")
        ]
        updated["excludedPaths"] = excluded
        updated["includedPaths"] = [
            *(updated.get("includedPaths") or []),
            {"path": "/session_start/?"},
        ]
        changes.append("a range index on /session_start/?")
    if not has_listing_index(updated):
        updated["compositeIndexes"] = [
            *(updated.get("compositeIndexes") or []),
            copy.deepcopy(LISTING_INDEX),
        ]
        changes.append(
            "the composite index (/session_start ascending, /id ascending, /customer_id ascending)"
        )
    return PolicyUpdate(updated, tuple(changes))


def az_update_command(
    *, account: str, database: str, container: str, policy: Mapping[str, Any]
) -> str:
    """The Azure CLI command that sets ``policy`` on the container (an online index update)."""
    body = json.dumps(dict(policy), separators=(",", ":"))
    return (
        f"az cosmosdb sql container update -g RESOURCE_GROUP -a {shlex.quote(account)} "
        f"-d {shlex.quote(database)} -n {shlex.quote(container)} --idx {shlex.quote(body)}"
    )
