"""Durable saving of conversation documents.

- :mod:`app.store.base` -- the :class:`ConversationStore` interface and its values;
- :mod:`app.store.sqlite` -- the embedded SQLite store (the default);
- :mod:`app.store.spool` -- local files for documents the store has not taken yet, and
  checkpoints of live calls;
- :mod:`app.store.recorder` -- :class:`DurableRecorder`: store first, spool on failure, a
  background flusher, and recovery from checkpoints after a crash.

The Cosmos DB store lives in ``app.store.cosmos`` and is not imported here, so that the SQLite
default does not load the Azure SDK.
"""

from app.store.base import (
    ConversationStore,
    InvalidDocumentError,
    Page,
    SaveOutcome,
    StoreError,
    document_key,
)
from app.store.recorder import DurableRecorder
from app.store.spool import Spool, SpoolEntry
from app.store.sqlite import SQLiteStore

__all__ = [
    "ConversationStore",
    "DurableRecorder",
    "InvalidDocumentError",
    "Page",
    "SQLiteStore",
    "SaveOutcome",
    "Spool",
    "SpoolEntry",
    "StoreError",
    "document_key",
]
