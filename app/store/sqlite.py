"""Conversation documents in an embedded SQLite database: the store when Cosmos DB is not set up.

One table keyed by ``(customer_id, id)`` holds each document as JSON text beside its
``session_start``, which is indexed for the newest-first listing and the date-range export.

Resource handling: the store owns one ``sqlite3`` connection, opened in a worker thread on first
use (:meth:`SQLiteStore.open` does it eagerly) and closed by :meth:`SQLiteStore.aclose`.  Every
statement runs in a worker thread through a ``CapacityLimiter(1)``, so the event loop never waits
on the disk and the connection is never used by two threads at once.

Cancellation: database threads are abandoned when their caller is cancelled (that is what lets
the recorder put a deadline on a save).  An abandoned statement still runs to completion and keeps
the limiter until it does, so statements stay serialised; a save that lands after its caller gave
up is harmless because saves are idempotent upserts of deterministic ids.

Durability: WAL journal with ``synchronous=NORMAL``.  A committed save survives a process crash;
a power cut may lose the last few commits, which the spool (:mod:`app.store.spool`) does not
cover either -- the trade the DESIGN accepts for an embedded default.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from app.store.base import InvalidDocumentError, Page, SaveOutcome, StoreError, document_key
from app.store.paging import SortKey, TokenCodec, iso_bound
from app.store.private_files import create_private_file, private_dir

__all__ = ["SQLiteStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a statement waits for another process's write lock before failing.
BUSY_TIMEOUT = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    customer_id   TEXT NOT NULL,
    id            TEXT NOT NULL,
    session_start TEXT NOT NULL,
    doc           TEXT NOT NULL,
    PRIMARY KEY (customer_id, id)
);
CREATE INDEX IF NOT EXISTS conversations_by_start
    ON conversations (session_start, id, customer_id);
CREATE INDEX IF NOT EXISTS conversations_by_customer
    ON conversations (customer_id, session_start, id);
"""

_UPSERT = """
INSERT INTO conversations (customer_id, id, session_start, doc) VALUES (?, ?, ?, ?)
ON CONFLICT (customer_id, id) DO UPDATE
    SET session_start = excluded.session_start, doc = excluded.doc
"""

_INSERT_IF_ABSENT = """
INSERT INTO conversations (customer_id, id, session_start, doc) VALUES (?, ?, ?, ?)
ON CONFLICT (customer_id, id) DO NOTHING
"""

# The sort key of a row: (session_start, id, customer_id).  ``customer_id`` is the last tie-break
# so that the order is total (the primary key is (customer_id, id)) and keyset paging can neither
# skip nor repeat a row.
#: Continuation tokens of this store (refused by the Cosmos DB store, and the other way round).
_TOKENS = TokenCodec(1)


@attrs.define(eq=False)
class SQLiteStore:
    """A :class:`~app.store.base.ConversationStore` in one SQLite file."""

    path: Path
    name: str = attrs.field(default="sqlite", init=False)
    _conn: sqlite3.Connection | None = attrs.field(default=None, init=False, repr=False)
    _limiter: trio.CapacityLimiter = attrs.field(
        factory=lambda: trio.CapacityLimiter(1), init=False, repr=False
    )
    _closed: bool = attrs.field(default=False, init=False, repr=False)

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        """Open (creating it and its parent directory if needed) the database at ``path``.

        Raises :class:`StoreError` when it cannot be opened.
        """
        store = cls(path)
        await store.ping()
        return store

    async def save(self, doc: Mapping[str, Any], *, overwrite: bool = True) -> SaveOutcome:
        customer_id, doc_id = document_key(doc)
        session_start = doc.get("session_start")
        if not isinstance(session_start, str) or not session_start:
            raise InvalidDocumentError(f"conversation {doc_id} has no string 'session_start'")
        statement = _UPSERT if overwrite else _INSERT_IF_ABSENT

        def write(conn: sqlite3.Connection) -> None:
            # Encoded here, in the worker thread: a long call's transcript is not small.
            row = (customer_id, doc_id, session_start, _encode(doc))
            conn.execute(statement, row)

        await self._run(write)
        return SaveOutcome()

    async def count(self) -> int:
        def count(conn: sqlite3.Connection) -> int:
            (n,) = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()
            return int(n)

        return await self._run(count)

    async def recent(
        self, *, limit: int, customer_id: str | None = None, continuation: str | None = None
    ) -> Page:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        after = None if continuation is None else _TOKENS.decode(continuation)
        where: list[str] = []
        params: list[str] = []
        if customer_id is not None:
            where.append("customer_id = ?")
            params.append(customer_id)
        if after is not None:
            where.append("(session_start, id, customer_id) < (?, ?, ?)")
            params.extend(after)
        # One row more than asked tells whether another page exists, so the last page never
        # carries a token that leads to an empty page.
        rows = await self._run(_selector(where, params, descending=True, limit=limit + 1))
        page = rows[:limit]
        token = _TOKENS.encode(page[-1][0]) if len(rows) > limit else None
        return Page(items=tuple(doc for _, doc in page), continuation=token)

    async def get(self, customer_id: str, doc_id: str) -> dict[str, Any] | None:
        def get(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                "SELECT doc FROM conversations WHERE customer_id = ? AND id = ?",
                (customer_id, doc_id),
            ).fetchone()
            return None if row is None else _decode(row[0])

        return await self._run(get)

    async def export(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[dict[str, Any], None]:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        where: list[str] = []
        params: list[str] = []
        if since is not None:
            where.append("session_start >= ?")
            params.append(iso_bound("since", since))
        if until is not None:
            where.append("session_start < ?")
            params.append(iso_bound("until", until))
        after: SortKey | None = None
        while True:
            keyset = [] if after is None else ["(session_start, id, customer_id) > (?, ?, ?)"]
            select = _selector(
                where + keyset, params + list(after or ()), descending=False, limit=page_size
            )
            rows = await self._run(select)
            for _, doc in rows:
                yield doc
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    async def ping(self) -> None:
        def ping(conn: sqlite3.Connection) -> None:
            conn.execute("SELECT 1 FROM conversations LIMIT 1").fetchall()

        await self._run(ping)

    async def aclose(self) -> None:
        """Close the connection, after any statement still running (even an abandoned one)."""
        if self._closed:
            return
        self._closed = True

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        # Not abandoned on cancel: once the close starts it finishes.
        await trio.to_thread.run_sync(close, limiter=self._limiter)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in the store's worker thread, opening the connection first."""
        if self._closed:
            raise StoreError(f"SQLite store {self.path} is closed")
        return await trio.to_thread.run_sync(
            self._call, fn, limiter=self._limiter, abandon_on_cancel=True
        )

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # In the worker thread.  Checked again here: aclose() may have run while this waited
        # for the limiter.
        if self._closed:
            raise StoreError(f"SQLite store {self.path} is closed")
        try:
            if self._conn is None:
                self._conn = _connect(self.path)
            return fn(self._conn)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc


def _connect(path: Path) -> sqlite3.Connection:
    private_dir(path.parent)
    # SQLite gives its -wal and -shm files the mode of the database file.
    create_private_file(path)
    # isolation_level=None: autocommit; every statement here is a transaction of its own.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
    )
    try:
        (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        if str(mode).lower() != "wal":
            log.warning("SQLite store %s: WAL journal unavailable, using %s", path, mode)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


def _selector(
    where: Sequence[str], params: Sequence[str], *, descending: bool, limit: int
) -> Callable[[sqlite3.Connection], list[tuple[SortKey, dict[str, Any]]]]:
    """A function selecting rows in (session_start, id, customer_id) order, with their keys."""
    direction = "DESC" if descending else "ASC"
    sql = "SELECT session_start, id, customer_id, doc FROM conversations"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY session_start {direction}, id {direction}, customer_id {direction} LIMIT ?"
    args = (*params, limit)

    def select(conn: sqlite3.Connection) -> list[tuple[SortKey, dict[str, Any]]]:
        return [
            ((start, doc_id, customer_id), _decode(text))
            for start, doc_id, customer_id, text in conn.execute(sql, args)
        ]

    return select


def _encode(doc: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(doc), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidDocumentError(f"conversation {doc.get('id')} is not JSON: {exc}") from exc


def _decode(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"a stored conversation is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise StoreError("a stored conversation is not a JSON object")
    return doc
