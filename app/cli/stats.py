"""``python -m app stats``: the call figures of the last days, as tables or as JSON.

The figures are the admin API's (`app.web.analytics.CallStats`, one streaming pass over the
window): calls per day, average duration, interruption rate, disconnect reasons, the most used
tools and the agents that answered.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.cli._common import load_settings, with_store
from app.cli._progress import progress
from app.store.base import ConversationStore

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from app.web.analytics import CallStats

HELP = "calls per day, durations, interruptions, disconnect reasons, tools and agents"
#: A year: the pass reads every document of the window, so it is bounded.
MAX_DAYS = 366
MAX_UTC_OFFSET_MINUTES = 14 * 60


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "stats",
        help=HELP,
        description=(
            "Figures over the conversations of the last N days (today included): "
            + HELP
            + ". A table on a terminal; --json for a program."
        ),
    )
    parser.add_argument(
        "--days",
        type=bounded_int("--days", 1, MAX_DAYS),
        default=14,
        metavar="N",
        help=f"how many calendar days, today included (1-{MAX_DAYS}, default 14)",
    )
    parser.add_argument(
        "--utc-offset-minutes",
        type=bounded_int("--utc-offset-minutes", -MAX_UTC_OFFSET_MINUTES, MAX_UTC_OFFSET_MINUTES),
        default=0,
        metavar="M",
        help="the time zone that days are counted in, e.g. 60 for UTC+01:00 (default 0, UTC)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(handler=run)


def bounded_int(name: str, low: int, high: int) -> Any:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number from {low} to {high}")
        return number

    return parse


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from app.web.analytics import collect_stats

    settings = load_settings()
    result: list[CallStats] = []

    async def gather(store: ConversationStore) -> int:
        with progress("reading conversations") as advance:
            stats = await collect_stats(
                store,
                days=args.days,
                utc_offset=timedelta(minutes=args.utc_offset_minutes),
                now=datetime.now(UTC),
                on_document=advance,
            )
        result.append(stats)
        return 0

    with_store(settings, gather)
    (stats,) = result
    if args.json:
        print(json.dumps(stats.as_json(), indent=2))
    else:
        render(stats, Console(file=sys.stdout))
    return 0


def render(stats: CallStats, console: Console) -> None:
    """The figures as a few small tables (plain text when stdout is not a terminal)."""
    from rich.table import Table

    figures = stats.as_json()
    summary = Table(title=f"Calls since {figures['since']}", show_header=False)
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    summary.add_row("conversations", str(stats.conversations))
    summary.add_row("average duration", _seconds(stats.average_duration))
    summary.add_row("interruption rate", _percent(stats.interruption_rate))
    summary.add_row("interruptions", str(stats.interruptions))
    console.print(summary)
    console.print(
        _counts(
            "Calls per day",
            "date",
            [(day["date"], day["calls"]) for day in figures["calls_per_day"]],
        )
    )
    console.print(_counts("Disconnect reasons", "reason", sorted(stats.reasons.items())))
    console.print(
        _counts("Top tools", "tool", [(t["tool"], t["calls"]) for t in figures["top_tools"]])
    )
    console.print(_counts("Agents", "agent", [(a["agent"], a["calls"]) for a in figures["agents"]]))


def _counts(title: str, name: str, rows: list[tuple[str, int]]) -> Table:
    from rich.table import Table

    table = Table(title=title)
    table.add_column(name)
    table.add_column("calls", justify="right")
    for label, count in rows:
        table.add_row(label, str(count))
    if not rows:
        table.add_row("(none)", "0")
    return table


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"
