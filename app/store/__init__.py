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

from __future__ import annotations

import importlib
from typing import Any

#: Where each name of the package lives.  Imported on first use (PEP 562), so importing a light
#: module of the package (``app.store.base``, ``app.store.paging``) -- as the operator commands
#: and the pure helpers do -- loads neither trio nor sqlite3.
_HOMES = {
    "ConversationStore": "app.store.base",
    "InvalidDocumentError": "app.store.base",
    "Page": "app.store.base",
    "SaveOutcome": "app.store.base",
    "StoreError": "app.store.base",
    "document_key": "app.store.base",
    "DurableRecorder": "app.store.recorder",
    "Spool": "app.store.spool",
    "SpoolEntry": "app.store.spool",
    "SQLiteStore": "app.store.sqlite",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'app.store' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
