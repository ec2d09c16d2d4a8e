"""Aggregates over stored conversations: pure counting, shared by the admin API and the CLI.

`CallStats` is fed documents one at a time, so memory stays flat however many calls a window
holds; `collect_stats` is the one streaming pass over ``store.export(since=...)`` that feeds it.
The store interface has no GROUP BY because Cosmos DB cannot be relied on for one (its emulator
does not run them), so every figure here is counted in the relay's process.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from contextlib import aclosing
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from app.store.base import ConversationStore


__all__ = ["TOP_TOOLS", "CallStats", "collect_stats"]

#: How many tools ``as_json`` lists, most used first (agents are few and all listed).
TOP_TOOLS = 10


@attrs.define(eq=False)
class CallStats:
    """Aggregates over conversation documents fed one at a time, so memory stays flat.

    Days are calendar days at ``utc_offset`` (the operator's time zone, as the page reports it),
    the last ``days`` of them up to and including ``today``.  The interruption rate is the share
    of conversations in which the caller cut the assistant short at least once.  ``tools`` and
    ``agents`` count conversations that used each tool or agent (a tool called three times in
    one call counts once: the document lists each name once).
    """

    today: date
    days: int
    utc_offset: timedelta = timedelta(0)
    per_day: list[int] = attrs.field(init=False)
    conversations: int = 0
    timed: int = 0
    total_duration: float = 0.0
    interrupted_conversations: int = 0
    interruptions: int = 0
    reasons: Counter[str] = attrs.field(factory=Counter)
    tools: Counter[str] = attrs.field(factory=Counter)
    agents: Counter[str] = attrs.field(factory=Counter)

    def __attrs_post_init__(self) -> None:
        self.per_day = [0] * self.days

    @property
    def first_day(self) -> date:
        return self.today - timedelta(days=self.days - 1)

    @property
    def since(self) -> datetime:
        """Midnight of the first day, in the operator's zone: the export's lower bound."""
        return datetime.combine(self.first_day, time(0), tzinfo=timezone(self.utc_offset))

    def add(self, doc: dict[str, Any]) -> None:
        """Count one document; one outside the window or without a readable start is skipped."""
        try:
            start = datetime.fromisoformat(str(doc.get("session_start")))
        except ValueError:
            return
        if start.tzinfo is None:
            return
        index = (start.astimezone(timezone(self.utc_offset)).date() - self.first_day).days
        if not 0 <= index < self.days:
            return
        self.per_day[index] += 1
        self.conversations += 1
        duration = _number(doc.get("duration_seconds"))
        if duration is not None and duration >= 0:
            self.timed += 1
            self.total_duration += duration
        metadata = doc.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        interruptions = _number(metadata.get("interruptions", 0))
        if interruptions is not None and interruptions > 0:
            self.interrupted_conversations += 1
            self.interruptions += int(interruptions)
        self.reasons[str(doc.get("disconnect_reason", "unknown"))] += 1
        self.tools.update(_names(metadata.get("tools_called")))
        self.agents.update(_names(metadata.get("agents_used")))

    @property
    def average_duration(self) -> float | None:
        return round(self.total_duration / self.timed, 3) if self.timed else None

    @property
    def interruption_rate(self) -> float | None:
        if not self.conversations:
            return None
        return round(self.interrupted_conversations / self.conversations, 4)

    def as_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "utc_offset_minutes": int(self.utc_offset.total_seconds() // 60),
            "since": self.since.isoformat(),
            "calls_per_day": [
                {"date": (self.first_day + timedelta(days=n)).isoformat(), "calls": calls}
                for n, calls in enumerate(self.per_day)
            ],
            "conversations": self.conversations,
            "average_duration_seconds": self.average_duration,
            "interruption_rate": self.interruption_rate,
            "interruptions": self.interruptions,
            "disconnect_reasons": dict(sorted(self.reasons.items())),
            "top_tools": [
                {"tool": name, "calls": count} for name, count in _ranked(self.tools)[:TOP_TOOLS]
            ],
            "agents": [{"agent": name, "calls": count} for name, count in _ranked(self.agents)],
        }


def _number(value: Any) -> float | None:
    """A finite JSON number, or None (a boolean is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _names(value: Any) -> set[str]:
    """The distinct non-empty strings of a JSON list; anything else counts as none."""
    if not isinstance(value, list):
        return set()
    return {item for item in value if isinstance(item, str) and item}


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    """Most used first, ties by name, so the order is the same on every run."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


async def collect_stats(
    store: ConversationStore,
    *,
    days: int,
    utc_offset: timedelta,
    now: datetime,
    on_document: Callable[[], None] | None = None,
) -> CallStats:
    """One streaming pass over the window's documents; ``on_document`` is told of each."""
    today = now.astimezone(timezone(utc_offset)).date()
    stats = CallStats(today=today, days=days, utc_offset=utc_offset)
    documents = store.export(since=stats.since)
    async with aclosing(documents):
        async for doc in documents:
            stats.add(doc)
            if on_document is not None:
                on_document()
    return stats
