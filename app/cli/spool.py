"""``python -m app spool list|flush``: the documents waiting in ``DATA_DIR/spool`` (with
``SPOOL_LOCKS=false``: in every named spool under ``DATA_DIR/spools``, see
`app.store.spool_leases`).

A document lands in the spool when the store did not take it in time; the server's flusher
retries it.  ``list`` shows what waits (and how many live-call checkpoints and corrupt files
there are); ``flush`` makes one pass now, for an operator who fixed the store and does not want
to wait for the flusher's backoff, or whose relay is stopped.

Flushing next to a running relay is safe: every save is an upsert of a deterministic id, and a
file the other process took first is skipped.  Checkpoints (``live/``) are never touched here:
they belong to calls in progress, and the relay turns a crashed one into a pending document
when it next starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli._common import CommandError, load_settings, with_store
from app.settings import Settings
from app.store.base import ConversationStore

if TYPE_CHECKING:
    from app.store.spool import Spool

HELP = "list or flush the conversations waiting in DATA_DIR/spool"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "spool",
        help=HELP,
        description=HELP[0].upper() + HELP[1:] + " (documents the store did not take in time).",
    )
    actions = parser.add_subparsers(dest="spool_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="show the pending documents, oldest first",
        description="Show the pending documents, oldest first, and count the live-call "
        "checkpoints and corrupt files. A file that cannot be read is moved to corrupt/, as "
        "the relay's flusher would.",
    )
    listing.add_argument("--json", action="store_true", help="print the listing as JSON")
    listing.set_defaults(handler=run_list)
    flush = actions.add_parser(
        "flush",
        help="save the pending documents to the store now",
        description="Save the pending documents to the store now, oldest first; stop at the "
        "first the store refuses. Exit status 1 if any is left.",
    )
    flush.set_defaults(handler=run_flush)


def spool_of(settings: Settings) -> Spool:
    from app.store.spool import Spool

    return Spool(settings.data_dir / "spool")


def spools_of(settings: Settings) -> tuple[Path, list[Spool]]:
    """Where the spools are, and each of them: ``DATA_DIR/spool``, or with
    ``SPOOL_LOCKS=false`` every named spool under ``DATA_DIR/spools`` (live processes' too:
    a save is an upsert by id, and a file another process took first is skipped)."""
    from app.store.spool import Spool

    if settings.spool_locks:
        spool = spool_of(settings)
        return spool.root, [spool]
    root = settings.data_dir / "spools"
    try:
        return root, [Spool(path) for path in sorted(root.iterdir()) if path.is_dir()]
    except FileNotFoundError:
        return root, []


def pending_entries(spool: Spool) -> list[dict[str, Any]]:
    """What the listing shows of each pending document (never its messages)."""
    rows = []
    for path in spool.pending():
        entry = spool.read(path)
        if entry is None:  # taken meanwhile, or corrupt (and now in corrupt/)
            continue
        messages = entry.doc.get("messages")
        rows.append(
            {
                "file": path.name,
                "customer_id": entry.doc.get("customer_id"),
                "id": entry.doc.get("id"),
                "session_start": entry.doc.get("session_start"),
                "disconnect_reason": entry.doc.get("disconnect_reason"),
                "messages": len(messages) if isinstance(messages, list) else 0,
                "overwrite": entry.overwrite,
            }
        )
    return rows


def _file_count(directory: Path) -> int:
    try:
        return sum(1 for path in directory.iterdir() if not path.name.startswith("."))
    except FileNotFoundError:
        return 0


def run_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    settings = load_settings()
    where, spools = spools_of(settings)
    pending: list[dict[str, Any]] = []
    live = corrupt = 0
    for spool in spools:
        try:
            pending += pending_entries(spool)
            live += len(spool.checkpoints())
            corrupt += _file_count(spool.corrupt_dir)
        except OSError as exc:
            raise CommandError(f"cannot read the spool {spool.root}: {exc}") from None
    pending_dir = spools[0].pending_dir if settings.spool_locks else where
    if args.json:
        listing = {
            "directory": str(where),
            "pending": pending,
            "live_checkpoints": live,
            "corrupt": corrupt,
        }
        print(json.dumps(listing, indent=2))
        return 0
    console = Console(file=sys.stdout)
    if not pending:
        console.print(f"nothing pending in {pending_dir}")
    table = Table(title=f"Pending in {pending_dir}")
    for column in ("customer_id", "id", "session_start", "disconnect_reason", "messages"):
        table.add_column(column, justify="right" if column == "messages" else "left")
    for row in pending:
        table.add_row(
            str(row["customer_id"]),
            str(row["id"]),
            str(row["session_start"]),
            str(row["disconnect_reason"]),
            str(row["messages"]),
        )
    if pending:
        console.print(table)
    console.print(
        f"{len(pending)} pending, {live} live-call checkpoint(s), {corrupt} corrupt file(s)"
    )
    return 0


def run_flush(args: argparse.Namespace) -> int:
    settings = load_settings()
    _, spools = spools_of(settings)
    before = 0
    for spool in spools:
        try:
            before += len(spool.pending())
        except OSError as exc:
            raise CommandError(f"cannot read the spool {spool.root}: {exc}") from None
    if not before:
        print("nothing pending", file=sys.stderr)
        return 0

    async def flush(store: ConversationStore) -> int:
        from app.store.recorder import DurableRecorder

        flushed = left = 0
        for spool in spools:
            recorder = DurableRecorder(
                store=store, spool=spool, save_timeout=settings.save_timeout
            )
            try:
                await recorder.flush()
            except OSError as exc:
                raise CommandError(f"cannot read the spool {spool.root}: {exc}") from None
            flushed += recorder.flushed
            left += recorder.pending_count()
        print(f"saved {flushed} conversation(s), {left} still pending", file=sys.stderr)
        if left:
            raise CommandError(
                f"{left} conversation(s) still pending: the store did not take them "
                "(the warning above says why); the relay's flusher keeps retrying"
            )
        return 0

    return with_store(settings, flush)
