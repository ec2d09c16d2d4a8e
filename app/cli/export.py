"""``python -m app export``: conversations as NDJSON on stdout, oldest first, for compliance.

One JSON document per line, exactly as stored (the store's own bookkeeping fields removed), so
that an export can be loaded back or diffed.  The documents stream page by page, so memory stays
flat however large the export.  ``--customer`` is applied while streaming: the store's export
has no customer filter, and on Cosmos DB a date-bounded query across partitions is what an
export is anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import aclosing
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

from app.cli._common import BAD_SETTINGS, CommandError, load_settings, with_store
from app.cli._progress import progress
from app.store.base import ConversationStore

HELP = "write conversations as NDJSON to stdout, oldest first"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "export",
        help=HELP,
        description=(
            "Write stored conversations as NDJSON (one document a line) to stdout, oldest "
            "first. A progress line is drawn on stderr when it is a terminal."
        ),
    )
    parser.add_argument(
        "--since",
        type=moment,
        metavar="WHEN",
        help="only calls that started at or after WHEN (ISO 8601: 2026-11-01 is midnight UTC, "
        "or 2026-11-01T08:00:00+01:00)",
    )
    parser.add_argument(
        "--until", type=moment, metavar="WHEN", help="only calls that started before WHEN"
    )
    parser.add_argument("--customer", metavar="ID", help="only this customer_id's calls")
    parser.set_defaults(handler=run)


def moment(value: str) -> datetime:
    """An argparse type: a date (midnight UTC) or a date and time with its zone."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 date or time (e.g. 2026-11-01 or 2026-11-01T08:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no time zone: add Z or an offset such as +01:00"
        )
    return parsed


def run(args: argparse.Namespace) -> int:
    if args.since and args.until and args.since >= args.until:
        raise CommandError("--since must be before --until", BAD_SETTINGS)
    settings = load_settings()
    out = sys.stdout.buffer

    async def export(store: ConversationStore) -> int:
        unbounded = args.since is None and args.until is None and args.customer is None
        total = await store.count() if unbounded else None
        written = await write_ndjson(
            store, out, since=args.since, until=args.until, customer=args.customer, total=total
        )
        print(f"exported {written} conversation(s)", file=sys.stderr)
        return 0

    try:
        return with_store(settings, export)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's exit-time flush
        # of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


async def write_ndjson(
    store: ConversationStore,
    out: BinaryIO,
    *,
    since: datetime | None,
    until: datetime | None,
    customer: str | None,
    total: int | None,
) -> int:
    """Stream the window's documents to ``out``, one JSON line each; return how many."""
    written = 0
    documents = store.export(since=since, until=until)
    with progress("exporting", total) as advance:
        async with aclosing(documents):
            async for doc in documents:
                if customer is not None and doc.get("customer_id") != customer:
                    continue
                out.write(json.dumps(doc, ensure_ascii=False).encode() + b"\n")
                written += 1
                advance()
    out.flush()
    return written
