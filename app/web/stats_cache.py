"""The admin API's aggregates, kept a while: one pass over the store per window, not per view.

A dashboard refreshed by several operators would otherwise stream the whole window out of the
store on every refresh.  `StatsCache` keeps a window's `CallStats` while the store's count is
unchanged and the day is the same, for at most `STATS_TTL` seconds, and keeps at most
`MAX_CACHED_WINDOWS` windows (the key space, days x time zone, is large).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import attrs
import trio

from app.store.base import ConversationStore
from app.web.analytics import CallStats, collect_stats

__all__ = ["MAX_CACHED_WINDOWS", "STATS_TTL", "StatsCache"]

#: Seconds a `StatsCache` entry is reused while the store's count is unchanged.
STATS_TTL = 30.0
#: Windows a `StatsCache` keeps.
MAX_CACHED_WINDOWS = 16


@attrs.define(eq=False)
class StatsCache:
    """Recent `CallStats` by window, reused while the count and the day are the same."""

    ttl: float = STATS_TTL
    #: Windows kept at most (days x time zone: the key space is large; the oldest goes).
    max_entries: int = MAX_CACHED_WINDOWS
    _entries: dict[tuple[int, int], tuple[float, int | None, CallStats]] = attrs.field(factory=dict)

    async def get(
        self, store: ConversationStore, *, days: int, utc_offset: timedelta, count: int | None
    ) -> CallStats:
        """The window's stats; ``count`` ``None`` (the store could not count) never reuses."""
        now = datetime.now(UTC)
        key = (days, int(utc_offset.total_seconds()))
        cached = self._entries.get(key)
        today = now.astimezone(timezone(utc_offset)).date()
        if cached is not None:
            at, cached_count, stats = cached
            fresh = trio.current_time() - at < self.ttl
            if fresh and count is not None and cached_count == count and stats.today == today:
                return stats
        stats = await collect_stats(store, days=days, utc_offset=utc_offset, now=now)
        self._entries.pop(key, None)
        self._entries[key] = (trio.current_time(), count, stats)
        while len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]  # dicts keep insertion order
        return stats
