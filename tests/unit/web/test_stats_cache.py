"""The admin API's stats cache: reused while nothing changed, bounded in how much it keeps."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import attrs
import trio

from app.web.stats_cache import MAX_CACHED_WINDOWS, STATS_TTL, StatsCache


@attrs.define
class CountingStore:
    """Just enough of a store for `collect_stats`: an empty export, counted."""

    exports: int = 0

    async def export(self, **_: Any) -> AsyncGenerator[dict[str, Any], None]:
        self.exports += 1
        nothing: tuple[dict[str, Any], ...] = ()
        for doc in nothing:
            yield doc


async def test_a_window_is_computed_once_while_the_count_is_unchanged(
    autojump_clock: trio.abc.Clock,
) -> None:
    store, cache = CountingStore(), StatsCache()
    for _ in range(3):
        await cache.get(store, days=7, utc_offset=timedelta(0), count=5)  # type: ignore[arg-type]
    assert store.exports == 1
    await cache.get(store, days=7, utc_offset=timedelta(0), count=6)  # type: ignore[arg-type]
    assert store.exports == 2  # a new conversation: computed again
    await trio.sleep(STATS_TTL)
    await cache.get(store, days=7, utc_offset=timedelta(0), count=6)  # type: ignore[arg-type]
    assert store.exports == 3  # too old
    await cache.get(store, days=7, utc_offset=timedelta(0), count=None)  # type: ignore[arg-type]
    assert store.exports == 4  # the store could not count: never reused


async def test_the_cache_keeps_a_bounded_number_of_windows() -> None:
    store, cache = CountingStore(), StatsCache()
    for minutes in range(0, 600, 15):  # 40 time zones an operator could ask for
        offset = timedelta(minutes=minutes)
        await cache.get(store, days=14, utc_offset=offset, count=1)  # type: ignore[arg-type]
    assert len(cache._entries) == MAX_CACHED_WINDOWS
    # The most recent windows are the ones kept.
    assert (14, 585 * 60) in cache._entries
    assert (14, 0) not in cache._entries
