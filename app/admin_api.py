"""The admin JSON API: dashboard figures, conversation listings, statistics and the export.

Every route is behind `app.auth.check_admin`.  Handlers translate HTTP to store calls; the store
owns querying and paging.

Aggregates (calls per day, average duration, interruption rate) are computed here by streaming
``store.export(since=...)`` through `CallStats`: the store interface has no GROUP BY, because
Cosmos DB cannot be relied on for one (its emulator does not run them).  A bounded window keeps
that pass affordable, and `StatsCache` keeps its result while the store's count is unchanged, for
at most `STATS_TTL` seconds, so a dashboard refreshed by several operators costs one pass, not
one per refresh.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import wraps
from typing import Any, TypeVar

import attrs
import trio
from quart import Blueprint, Response, request

from app.auth import AuthError, check_admin
from app.metrics import active_calls
from app.relay import Relay
from app.store.base import ConversationStore, StoreError

MAX_PAGE = 100
#: The dashboard's averages cover this many days (the count covers every stored conversation).
DASHBOARD_DAYS = 30
#: The longest window ``/api/admin/stats`` aggregates over.
MAX_STATS_DAYS = 92
#: The furthest time zones are UTC-12 and UTC+14.
MAX_UTC_OFFSET_MINUTES = 14 * 60
STATS_TTL = 30.0

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
_INTEGER = re.compile(r"-?[0-9]{1,6}")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def problem(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The list view of a conversation: everything but the messages."""
    return {key: value for key, value in doc.items() if key != "messages"}


def parse_time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or time, got {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name} must include a time zone (e.g. 2026-11-25T00:00:00Z)")
    return parsed


def whole_number(name: str, value: str | None, default: int, low: int, high: int) -> int:
    """A query parameter that must be an integer in ``[low, high]``."""
    if value is None or value == "":
        return default
    number = int(value) if _INTEGER.fullmatch(value) else low - 1
    if not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}")
    return number


@attrs.define(eq=False)
class CallStats:
    """Aggregates over conversation documents fed one at a time, so memory stays flat.

    Days are calendar days at ``utc_offset`` (the operator's time zone, as the page reports it),
    the last ``days`` of them up to and including ``today``.  The interruption rate is the share
    of conversations in which the caller cut the assistant short at least once.
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
        interruptions = _number(metadata.get("interruptions") if isinstance(metadata, dict) else 0)
        if interruptions is not None and interruptions > 0:
            self.interrupted_conversations += 1
            self.interruptions += int(interruptions)
        self.reasons[str(doc.get("disconnect_reason", "unknown"))] += 1

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
        }


def _number(value: Any) -> float | None:
    """A finite JSON number, or None (a boolean is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


async def collect_stats(
    store: ConversationStore, *, days: int, utc_offset: timedelta, now: datetime
) -> CallStats:
    """One streaming pass over the window's documents."""
    today = now.astimezone(timezone(utc_offset)).date()
    stats = CallStats(today=today, days=days, utc_offset=utc_offset)
    documents = store.export(since=stats.since)
    async with aclosing(documents):
        async for doc in documents:
            stats.add(doc)
    return stats


@attrs.define(eq=False)
class StatsCache:
    """Recent `CallStats` by window, reused while the count and the day are the same."""

    ttl: float = STATS_TTL
    _entries: dict[tuple[int, int], tuple[float, int, CallStats]] = attrs.field(factory=dict)

    async def get(
        self, store: ConversationStore, *, days: int, utc_offset: timedelta, count: int
    ) -> CallStats:
        now = datetime.now(UTC)
        key = (days, int(utc_offset.total_seconds()))
        cached = self._entries.get(key)
        today = now.astimezone(timezone(utc_offset)).date()
        if cached is not None:
            at, cached_count, stats = cached
            fresh = trio.current_time() - at < self.ttl
            if fresh and cached_count == count and stats.today == today:
                return stats
        stats = await collect_stats(store, days=days, utc_offset=utc_offset, now=now)
        self._entries[key] = (trio.current_time(), count, stats)
        return stats


def create_admin_api(relay: Relay) -> Blueprint:
    api = Blueprint("admin_api", __name__, url_prefix="/api/admin")
    cache = StatsCache()

    def store() -> ConversationStore:
        if relay.store is None:
            raise StoreError("the store is not open yet")
        return relay.store

    def admin(handler: F) -> F:
        @wraps(handler)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            client = request.scope.get("client")
            try:
                check_admin(
                    request.headers.get("authorization"),
                    client[0] if client else None,
                    relay.settings.admin_token,
                )
                return await handler(*args, **kwargs)
            except AuthError as exc:
                return problem(exc.status, str(exc))
            except StoreError as exc:
                return problem(503, f"the conversation store is unavailable: {exc}")
            except ValueError as exc:
                return problem(400, str(exc))

        return guarded  # type: ignore[return-value]

    @api.get("/dashboard")
    @admin
    async def dashboard() -> Response:
        recorder = relay.recorder
        count = await store().count()
        recent = await cache.get(store(), days=DASHBOARD_DAYS, utc_offset=timedelta(0), count=count)
        return json_response(
            {
                "ai_conversations_count": count,
                "active_calls": active_calls(relay),
                "calls_started": relay.registry.calls_started,
                "calls_refused": relay.registry.calls_refused,
                "spool_pending": recorder.pending_count() if recorder else 0,
                "store": store().name,
                "upstream": relay.connector.description,
                "average_duration_seconds": recent.average_duration,
                "interruption_rate": recent.interruption_rate,
                "stats_days": DASHBOARD_DAYS,
            }
        )

    @api.get("/stats")
    @admin
    async def stats() -> Response:
        args = request.args
        days = whole_number("days", args.get("days"), 14, 1, MAX_STATS_DAYS)
        offset = whole_number(
            "utc_offset_minutes",
            args.get("utc_offset_minutes"),
            0,
            -MAX_UTC_OFFSET_MINUTES,
            MAX_UTC_OFFSET_MINUTES,
        )
        count = await store().count()
        result = await cache.get(
            store(), days=days, utc_offset=timedelta(minutes=offset), count=count
        )
        return json_response(result.as_json())

    @api.get("/conversations")
    @admin
    async def conversations() -> Response:
        args = request.args
        limit = whole_number("limit", args.get("limit"), 20, 1, MAX_PAGE)
        page = await store().recent(
            limit=limit,
            customer_id=args.get("customer_id") or None,
            continuation=args.get("continuation") or None,
        )
        return json_response(
            {"items": [summary(doc) for doc in page.items], "continuation": page.continuation}
        )

    @api.get("/conversations/<customer_id>/<doc_id>")
    @admin
    async def conversation(customer_id: str, doc_id: str) -> Response:
        doc = await store().get(customer_id, doc_id)
        if doc is None:
            return problem(404, "no such conversation")
        return json_response(doc)

    @api.get("/export")
    @admin
    async def export() -> Response:
        since = parse_time("since", request.args.get("since"))
        until = parse_time("until", request.args.get("until"))
        documents = store().export(since=since, until=until)

        async def lines() -> AsyncIterator[bytes]:
            # aclosing: a client that goes away mid-download closes the store's page cursor.
            async with aclosing(documents):
                async for doc in documents:
                    yield (json.dumps(doc) + "\n").encode()

        return Response(
            lines(),
            content_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="conversations.ndjson"'},
        )

    return api
