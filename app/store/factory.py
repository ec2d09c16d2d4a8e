"""Which store the settings ask for, opened and ready."""

from __future__ import annotations

from app.settings import Settings
from app.store.base import ConversationStore
from app.store.sqlite import SQLiteStore


async def open_store(settings: Settings) -> ConversationStore:
    """The Cosmos DB store when ``COSMOSDB_ENDPOINT`` is set, else the embedded SQLite file."""
    if settings.cosmos_endpoint:
        # Imported here, so that the SQLite default does not load the Azure SDK.
        from app.store.cosmos import CosmosStore

        return await CosmosStore.open(settings)
    return await SQLiteStore.open(settings.data_dir / "conversations.sqlite3")
