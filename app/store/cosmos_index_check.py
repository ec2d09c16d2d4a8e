"""Reading the container's indexing policy and, with the account key, adding what is missing.

Blocking (the synchronous SDK): :class:`~app.store.cosmos.CosmosStore` calls
:func:`check_indexing` from a worker thread, at start-up and again later while the listings use
the fallback queries (see :mod:`app.store.cosmos_indexing` for what is checked, and why).

With the account key the missing indexes are added by replacing the container's definition with
the same one and the new policy: an online index update (documents stay readable and writable
while it runs).  The replace sends every property the container had, because a property left
out of a replace goes back to its default (a container's ``defaultTtl`` would be lost).  With
Entra ID nothing is tried: the data-plane roles cannot change a container, so the status says
which command would.  An account whose keys may not change metadata
(``disableKeyBasedMetadataWriteAccess``) refuses the replace with 403, and is treated the same.
"""

from __future__ import annotations

from typing import Any

from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosHttpResponseError

from app.store.cosmos_connect import CosmosAccount, account_name, brief_error
from app.store.cosmos_indexing import (
    IndexingStatus,
    PolicyUpdate,
    az_update_command,
    has_listing_index,
    policy_update,
)

__all__ = ["check_indexing"]

#: Container properties a replace must send again (SDK keyword <- REST property).
_KEPT_PROPERTIES = {
    "default_ttl": "defaultTtl",
    "conflict_resolution_policy": "conflictResolutionPolicy",
    "analytical_storage_ttl": "analyticalStorageTtl",
    "computed_properties": "computedProperties",
    "full_text_policy": "fullTextPolicy",
    "vector_embedding_policy": "vectorEmbeddingPolicy",
}


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
