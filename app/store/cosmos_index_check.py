"""Reading the container's indexing policy and, with the account key, adding what is missing.

:func:`check_indexing` blocks (the synchronous SDK), so :class:`IndexingWatch` -- the store's
record of the outcome -- runs it through the store's worker threads: at start-up, after the
service refuses a listing query, and every :data:`INDEX_RECHECK_INTERVAL` seconds while the
status is not good (see :mod:`app.store.cosmos_indexing` for what is checked, and why).

With the account key the missing indexes are added by replacing the container's definition with
the same one and the new policy: an online index update (documents stay readable and writable
while it runs).  The replace sends every property the container had, because a property left
out of a replace goes back to its default (a container's ``defaultTtl`` would be lost).  With
Entra ID nothing is tried: the data-plane roles cannot change a container, so the status says
which command would.  An account whose keys may not change metadata
(``disableKeyBasedMetadataWriteAccess``) refuses the replace with 403, and is treated the same.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosHttpResponseError

from app.store.base import StoreError
from app.store.cosmos_connect import CosmosAccount, account_name, brief_error
from app.store.cosmos_indexing import (
    IndexingStatus,
    PolicyUpdate,
    az_update_command,
    has_listing_index,
    policy_update,
)

__all__ = ["INDEX_RECHECK_INTERVAL", "IndexingWatch", "check_indexing"]

log = logging.getLogger(__name__)

#: Seconds between readings of the container's indexing policy while it is not known good
#: (the listings use the fallback queries): an operator may have added the index, or the
#: relay's own index update finished.
INDEX_RECHECK_INTERVAL = 300.0

#: Runs a blocking function of the container in a worker thread (``CosmosStore._run``).
ContainerRunner = Callable[[Callable[[ContainerProxy], IndexingStatus]], Awaitable[IndexingStatus]]

#: Container properties a replace must send again (SDK keyword <- REST property).
_KEPT_PROPERTIES = {
    "default_ttl": "defaultTtl",
    "conflict_resolution_policy": "conflictResolutionPolicy",
    "analytical_storage_ttl": "analyticalStorageTtl",
    "computed_properties": "computedProperties",
    "full_text_policy": "fullTextPolicy",
    "vector_embedding_policy": "vectorEmbeddingPolicy",
}


@attrs.define(eq=False)
class IndexingWatch:
    """What the store knows of its container's indexing, checked again while not known good.

    Changes of status are logged once: what the relay added, or what is missing and the command
    that adds it.
    """

    account: CosmosAccount
    recheck_interval: float = INDEX_RECHECK_INTERVAL
    status: IndexingStatus = attrs.field(
        factory=lambda: IndexingStatus("unchecked", "composite", "the container was not read yet"),
        init=False,
    )
    _checked_at: float | None = attrs.field(default=None, init=False)
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)

    def due(self) -> bool:
        """Whether to read the policy again: never read, or not good and not read lately."""
        if self.status.state in ("ok", "added"):
            return False
        checked = self._checked_at
        return checked is None or trio.current_time() - checked >= self.recheck_interval

    async def check(
        self, run: ContainerRunner, options: dict[str, Any], *, refused: bool = False
    ) -> None:
        """Read the policy through ``run`` (completing it when the key allows).  ``refused``:
        the service has just refused a query that needs the composite index.  A failure to read
        is logged and leaves the status as it was."""
        async with self._lock:
            self._checked_at = trio.current_time()
            try:
                status = await run(
                    lambda container: check_indexing(self.account, container, options)
                )
            except StoreError as exc:
                log.warning("Cosmos DB: could not check the container's indexing policy: %s", exc)
                return
            if refused and status.listing_queries == "composite":
                status = IndexingStatus(
                    "building",
                    "fallback",
                    f"{status.detail}; Cosmos DB still refuses queries that need the composite "
                    f"index (its index update is running): the listings use the fallback "
                    f"queries meanwhile",
                    status.fix,
                )
            if status == self.status:
                return
            self.status = status
        if status.state == "ok":
            log.info("Cosmos DB indexing: %s", status.detail)
        elif status.fix is None:
            log.warning("Cosmos DB indexing: %s", status.detail)
        else:
            log.warning("Cosmos DB indexing: %s. To add it, run: %s", status.detail, status.fix)


def check_indexing(
    account: CosmosAccount, container: ContainerProxy, options: dict[str, Any]
) -> IndexingStatus:
    """The container's indexing status, after adding what is missing when the key allows it.

    ``options`` are the per-request keyword arguments (the SDK's timeout).  Errors other than a
    refused replace propagate (the store turns them into :class:`StoreError`).
    """
    where = f"{account.database}/{account.container_name}"
    properties = container.read(**options)
    policy = properties.get("indexingPolicy") or {}
    update = policy_update(policy)
    if not update.changes:
        return IndexingStatus("ok", "composite", f"the indexing policy of {where} serves the relay")
    if not account.uses_key:
        return _missing(
            account,
            update,
            has_listing_index(policy),
            "with Entra ID the relay cannot change a container's indexing policy "
            "(data-plane roles do not include it)",
        )
    kept = {
        keyword: properties[name]
        for keyword, name in _KEPT_PROPERTIES.items()
        if properties.get(name) is not None
    }
    database = account.client.get_database_client(account.database)
    try:
        database.replace_container(
            container,
            properties["partitionKey"],
            indexing_policy=update.policy,
            **kept,
            **options,
        )
    except CosmosHttpResponseError as exc:
        return _missing(
            account,
            update,
            has_listing_index(policy),
            f"the account refused to change the indexing policy ({brief_error(exc)})",
        )
    return IndexingStatus(
        "added",
        "composite",
        f"the relay added to the indexing policy of {where} (an online index update): "
        f"{'; '.join(update.changes)}",
    )


def _missing(
    account: CosmosAccount, update: PolicyUpdate, composite: bool, why: str
) -> IndexingStatus:
    where = f"{account.database}/{account.container_name}"
    fix = az_update_command(
        account=account_name(account.endpoint),
        database=account.database,
        container=account.container_name,
        policy=update.policy,
    )
    serving = (
        "the listings use the composite index"
        if composite
        else "the listings are served by slower fallback queries (one or two more per page)"
    )
    return IndexingStatus(
        "missing",
        "composite" if composite else "fallback",
        f"the indexing policy of {where} lacks what the relay's listings need "
        f"({'; '.join(update.changes)}), and {why}; {serving} until it is added",
        fix,
    )
