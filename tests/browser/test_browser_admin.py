"""The admin page at /admin in real Chromium, and the aggregates behind its dashboard.

Conversations are logged first through the plain websocket client of the harness (fast: the
browser side of a call has its own tests), then an operator signs in and reads them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import trio
from playwright.sync_api import expect

from app.web.admin_api import CallStats, StatsCache
from tests.support.browser import (
    PageProblems,
    chromium,
    in_browser,
    page_url,
    require_browser_tools,
    screenshot,
)
from tests.support.harness import IO_TIMEOUT, RunningRelay, connect, relay_settings, running_relay

TOKEN = "admin-secret"
GREETING = "Hi, I need some help, please."


async def log_calls(relay: RunningRelay, count: int, *, interrupt_first: bool = True) -> None:
    """``count`` finished calls from customers cust-00, cust-01, ...; the first one's reply
    truncated after 600 ms, as a barge-in leaves it."""
    for n in range(count):
        async with connect(relay, customer_id=f"cust-{n:02d}") as client:
            reply = await client.say(GREETING)
            if n == 0 and interrupt_first:
                [done] = [e for e in reply if e["type"] == "response.output_audio_transcript.done"]
                await client.send(
                    {
                        "type": "conversation.item.truncate",
                        "item_id": done["item_id"],
                        "content_index": 0,
                        "audio_end_ms": 600,
                    }
                )
                await client.receive_until("conversation.item.truncated")
            await client.hang_up()
        await relay.wait_calls_ended()


#: Earlier calls stored directly (days ago -> calls), so the chart has more than one bar.
EARLIER = {1: 3, 4: 1, 9: 2}


async def store_earlier_calls(relay: RunningRelay) -> None:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for days_ago, calls in EARLIER.items():
        for n in range(calls):
            start = today - timedelta(days=days_ago, minutes=n)
            record = doc(start.isoformat(), duration=95.0 + 30 * n)
            record["customer_id"] = f"earlier-{days_ago}-{n}"
            record["messages"] = [{"sender": "user", "message": "Hello?", "interrupted": False}]
            record["metadata"]["total_messages"] = 1
            await relay.store.save(record)


async def test_operator_signs_in_and_reads_the_conversations(tmp_path: Path) -> None:
    require_browser_tools()
    async with running_relay(relay_settings(tmp_path / "relay", admin_token=TOKEN)) as relay:
        await log_calls(relay, 11)
        await store_earlier_calls(relay)
        total = 11 + sum(EARLIER.values())

        def scenario() -> dict[str, Any]:
            with chromium(tmp_path / "profile") as browser:
                page = browser.new_page()
                problems = PageProblems.watch(page)
                page.goto(page_url(relay.port, "/admin"))
                token = page.get_by_label("Admin token")
                token.fill("not-the-token")
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_role("alert")).to_contain_text("not accepted")
                token.fill(TOKEN)
                page.get_by_role("button", name="Sign in").click()

                expect(page.get_by_label("AI conversations")).to_have_text(str(total))
                expect(page.get_by_label("Active calls")).to_have_text("0")
                expect(page.get_by_label("Interruption rate")).to_have_text("5.9 %")  # 1 of 17
                expect(page.get_by_label("Average duration")).to_have_text(re.compile(r"\d s$"))
                bars = page.locator("#chart rect.bar")
                expect(bars).to_have_count(14)
                expect(bars.last).to_have_attribute("data-calls", "11")
                for days_ago, calls in EARLIER.items():
                    expect(bars.nth(13 - days_ago)).to_have_attribute("data-calls", str(calls))

                table = page.get_by_role("table", name="Recent conversations")
                rows = table.locator("tbody tr")
                expect(rows).to_have_count(10)
                expect(rows.first).to_contain_text("cust-10")  # newest first
                page.get_by_role("button", name="Older").click()
                expect(rows).to_have_count(total - 10)
                expect(page.get_by_role("button", name="Older")).to_be_disabled()
                rows.filter(has_text="cust-00").click()

                detail = page.get_by_role("region", name="Conversation with cust-00")
                expect(detail).to_contain_text("The caller hung up (user_hangup)")
                expect(detail).to_contain_text("root")
                messages = detail.get_by_role("list", name="Messages").get_by_role("listitem")
                expect(messages).to_have_count(2)
                expect(messages.first).to_have_text(f"Caller: {GREETING}")
                expect(messages.last).to_contain_text("(interrupted)")
                shot = screenshot(page, "admin.png")

                with page.expect_download() as download:
                    page.get_by_role("button", name="Export NDJSON").click()
                exported = Path(download.value.path()).read_text()

                page.get_by_role("button", name="Newer").click()
                expect(rows).to_have_count(10)
                stored = page.evaluate("() => sessionStorage.getItem('voice-relay.admin-token')")
                page.get_by_role("button", name="Sign out").click()
                expect(page.get_by_label("Admin token")).to_be_visible()
                after = page.evaluate("() => sessionStorage.getItem('voice-relay.admin-token')")
                return {
                    "problems": problems.messages,
                    "exported": exported,
                    "filename": download.value.suggested_filename,
                    "stored": stored,
                    "after": after,
                    "screenshot": shot,
                }

        seen = await in_browser(scenario)
        ids = {doc["id"] for doc in await relay.documents()}

    # The wrong token's 401 is the one console error Chromium reports for a failed fetch.
    assert [p for p in seen["problems"] if "401" not in p] == []
    assert seen["stored"] == TOKEN
    assert seen["after"] is None
    assert seen["filename"].endswith(".ndjson")
    exported = [json.loads(line) for line in seen["exported"].splitlines()]
    assert {doc["id"] for doc in exported} == ids
    assert len(exported) == total
    assert seen["screenshot"].stat().st_size > 10_000


async def test_on_loopback_without_a_token_the_dashboard_opens_directly(tmp_path: Path) -> None:
    require_browser_tools()
    async with running_relay(relay_settings(tmp_path / "relay")) as relay:
        await log_calls(relay, 1, interrupt_first=False)

        def scenario() -> list[str]:
            with chromium(tmp_path / "profile") as browser:
                page = browser.new_page()
                problems = PageProblems.watch(page)
                page.goto(page_url(relay.port, "/admin"))
                expect(page.get_by_label("AI conversations")).to_have_text("1")
                expect(page.get_by_label("Interruption rate")).to_have_text("0 %")
                expect(page.get_by_label("Admin token")).to_be_hidden()
                expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
                return problems.messages

        assert await in_browser(scenario) == []


def api(port: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=IO_TIMEOUT,
    )


async def test_stats_and_dashboard_aggregate_the_logged_calls(tmp_path: Path) -> None:
    async with running_relay(relay_settings(tmp_path, admin_token=TOKEN)) as relay:
        await log_calls(relay, 3)
        docs = await relay.documents()
        async with api(relay.port) as client:
            stats = (await client.get("/api/admin/stats", params={"days": 7})).json()
            dashboard = (await client.get("/api/admin/dashboard")).json()
            bad = await client.get("/api/admin/stats", params={"days": "0"})
            zone = await client.get("/api/admin/stats", params={"utc_offset_minutes": "900"})
            del client.headers["Authorization"]
            unauthorised = await client.get("/api/admin/stats")

    today = datetime.now(UTC).date()
    assert [day["date"] for day in stats["calls_per_day"]] == [
        (today - timedelta(days=6 - n)).isoformat() for n in range(7)
    ]
    assert [day["calls"] for day in stats["calls_per_day"]] == [0] * 6 + [3]
    assert stats["conversations"] == 3
    assert stats["interruptions"] == 1
    assert stats["interruption_rate"] == round(1 / 3, 4)
    average = sum(doc["duration_seconds"] for doc in docs) / 3
    assert abs(stats["average_duration_seconds"] - average) < 0.001
    assert stats["disconnect_reasons"] == {"user_hangup": 3}
    assert dashboard["average_duration_seconds"] == stats["average_duration_seconds"]
    assert dashboard["interruption_rate"] == stats["interruption_rate"]
    assert dashboard["stats_days"] == 30
    assert dashboard["ai_conversations_count"] == 3  # the existing fields are still there
    assert bad.status_code == 400
    assert "days" in bad.json()["error"]
    assert zone.status_code == 400
    assert unauthorised.status_code == 401


def doc(start: str, *, duration: Any = 10.0, interruptions: Any = 0) -> dict[str, Any]:
    """Only the fields the stats read, by hand: the stats must also take documents the relay
    did not write (no zone, a time that is not one, a boolean duration, a string count)."""
    return {
        "id": f"ai_conv_{start}",
        "customer_id": "c",
        "session_start": start,
        "duration_seconds": duration,
        "disconnect_reason": "user_hangup",
        "metadata": {"interruptions": interruptions},
    }


def test_call_stats_buckets_days_in_the_operators_zone() -> None:
    stats = CallStats(today=date(2026, 11, 26), days=2, utc_offset=timedelta(hours=1))
    assert stats.since.isoformat() == "2026-11-25T00:00:00+01:00"
    stats.add(doc("2026-11-25T23:30:00+00:00", interruptions=2))  # 00:30 on the 26th at +01:00
    stats.add(doc("2026-11-24T23:30:00+00:00", duration=20.0))  # 00:30 on the 25th
    stats.add(doc("2026-11-24T22:30:00+00:00"))  # 23:30 on the 24th: before the window
    stats.add(doc("not a time"))
    stats.add(doc("2026-11-25T12:00:00"))  # no zone: cannot be placed
    stats.add(doc("2026-11-25T12:00:00+00:00", duration=True, interruptions="2"))
    assert stats.per_day == [2, 1]
    assert stats.conversations == 3
    assert stats.average_duration == 15.0  # the boolean duration is not counted
    assert stats.interrupted_conversations == 1
    assert stats.interruption_rate == round(1 / 3, 4)
    empty = CallStats(today=date(2026, 11, 26), days=1)
    assert empty.average_duration is None
    assert empty.interruption_rate is None


class CountingStore:
    """A store whose export counts the passes made over it."""

    name = "counting"

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self.passes = 0

    async def export(self, *, since: datetime | None = None, **_: Any) -> Any:
        self.passes += 1
        for item in self.docs:
            await trio.lowlevel.checkpoint()
            yield item


async def test_stats_cache_reuses_a_pass_until_the_count_changes() -> None:
    now = datetime.now(UTC).isoformat()
    store = CountingStore([doc(now)])
    cache = StatsCache()
    first = await cache.get(store, days=7, utc_offset=timedelta(0), count=1)  # type: ignore[arg-type]
    again = await cache.get(store, days=7, utc_offset=timedelta(0), count=1)  # type: ignore[arg-type]
    assert again is first
    assert store.passes == 1
    store.docs.append(doc(now))
    grown = await cache.get(store, days=7, utc_offset=timedelta(0), count=2)  # type: ignore[arg-type]
    assert grown.conversations == 2
    assert store.passes == 2
    other_zone = await cache.get(store, days=7, utc_offset=timedelta(hours=2), count=2)  # type: ignore[arg-type]
    assert other_zone is not grown
    assert store.passes == 3
