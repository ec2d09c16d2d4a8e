"""The live call board on /admin in real Chromium, while a call is held through the API.

The browser scenario runs in a worker thread (see tests/support/browser.py) and the call in
the test's trio task; they meet through two events.  The page stamps each row and transcript
line it adds with ``Date.now()`` (a MutationObserver the test installs), the call side stamps
what it sent and received with ``time.time()``: one machine, one clock, so the two compare.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import trio
from playwright.sync_api import expect

from tests.support.browser import (
    ACTION_TIMEOUT_MS,
    PageProblems,
    chromium,
    in_browser,
    page_url,
    require_browser_tools,
    screenshot,
)
from tests.support.harness import IO_TIMEOUT, Client, connect, relay_settings, running_relay

TOKEN = "admin-secret"
CUSTOMER = "cust-live"
#: The issue's bound: a row or line shows within a second of the event behind it.
SHOWN_WITHIN = 1.0
#: 24 kHz PCM16 mono.
PCM_BYTES_PER_MS = 48

# Records when rows and transcript lines are added to the page (ms since the epoch).
STAMP_ADDITIONS = """() => {
  window.added = [];
  const watch = (id) => new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) {
        if (node.nodeType === 1) window.added.push({ where: id, at: Date.now(), node });
      }
    }
  }).observe(document.getElementById(id), { childList: true, subtree: true });
  watch("live-calls");
  watch("live-lines");
}"""
# The stamps, with each added element's final text (rows are filled in after they are added).
READ_STAMPS = """() => window.added.map(
  ({ where, at, node }) => ({ where, at, tag: node.tagName, text: node.textContent }))"""


async def turn(client: Client, text: str) -> dict[str, Any]:
    """A typed turn: when it was sent, when the reply's transcript arrived (epoch s), and how
    many milliseconds of audio the reply had."""
    sent = time.time()
    await client.type_text(text)
    await client.send({"type": "response.create"})
    audio_chars = 0
    while True:
        event = await client.receive()
        if event["type"] == "response.output_audio.delta":
            audio_chars += len(event["delta"])
        if event["type"] == "response.output_audio_transcript.done":
            done = {"sent": sent, "reply_at": time.time(), "reply": event}
        if event["type"] == "response.done":
            return {**done, "audio_ms": audio_chars * 3 / 4 / PCM_BYTES_PER_MS}


async def test_the_board_shows_a_live_call_its_transcript_and_its_end(tmp_path: Path) -> None:
    require_browser_tools()
    board_open = trio.Event()
    watching = trio.Event()
    first_turn_done = threading.Event()
    call_over = threading.Event()

    def scenario() -> dict[str, Any]:
        with chromium(tmp_path / "profile") as browser:
            page = browser.new_page()
            problems = PageProblems.watch(page)
            page.goto(page_url(relay.port, "/admin"))
            page.get_by_label("Admin token").fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            board = page.get_by_role("region", name="Live calls")
            expect(board).to_contain_text("No calls right now.")
            page.evaluate(STAMP_ADDITIONS)
            trio.from_thread.run_sync(board_open.set)

            row = board.get_by_role("row").filter(has_text=CUSTOMER)
            expect(row).to_contain_text("root")
            expect(row).to_contain_text(re.compile("Listening|Agent speaking"))
            expect(board.get_by_text("No calls right now.")).to_be_hidden()
            assert first_turn_done.wait(ACTION_TIMEOUT_MS / 1000)
            row.get_by_role("button", name=CUSTOMER).click()
            transcript = page.get_by_role("region", name=f"Live call with {CUSTOMER}")
            lines = transcript.get_by_role("list", name="Live transcript").get_by_role("listitem")
            expect(lines).to_have_count(2)  # the turn before watching, from the snapshot
            expect(lines.first).to_have_text("Caller: Hello board")
            trio.from_thread.run_sync(watching.set)

            expect(lines).to_have_count(4)
            expect(lines.nth(2)).to_have_text("Caller: Thank you")
            expect(lines.nth(3)).to_contain_text("(interrupted)")
            assert call_over.wait(ACTION_TIMEOUT_MS / 1000)
            expect(row).to_contain_text("The caller hung up")
            expect(transcript).to_contain_text("The call ended: The caller hung up.")
            shot = screenshot(page, "admin-live.png")
            stamps = page.evaluate(READ_STAMPS)

            row.get_by_role("button", name="Open conversation").click()
            stored = page.get_by_role("region", name=f"Conversation with {CUSTOMER}")
            messages = stored.get_by_role("list", name="Messages").get_by_role("listitem")
            expect(messages).to_have_count(4)
            expect(messages.last).to_contain_text("(interrupted)")
            return {"problems": problems.messages, "stamps": stamps, "screenshot": shot}

    seen: dict[str, Any] = {}
    async with (
        running_relay(relay_settings(tmp_path / "relay", admin_token=TOKEN)) as relay,
        trio.open_nursery() as nursery,
    ):

        async def run_browser() -> None:
            seen.update(await in_browser(scenario))

        nursery.start_soon(run_browser)
        with trio.fail_after(IO_TIMEOUT * 3):
            await board_open.wait()
        async with connect(relay, customer_id=CUSTOMER) as client:
            connected = time.time()
            await turn(client, "Hello board")
            first_turn_done.set()
            with trio.fail_after(IO_TIMEOUT * 3):
                await watching.wait()
            second = await turn(client, "Thank you")
            await client.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": second["reply"]["item_id"],
                    "content_index": 0,
                    "audio_end_ms": int(second["audio_ms"] * 0.6),  # heard most of it
                }
            )
            await client.receive_until("conversation.item.truncated")
            await client.hang_up()
        await relay.wait_calls_ended()
        call_over.set()

    # Opening /admin before signing in: the dashboard's 401 is the one console error expected.
    assert [p for p in seen["problems"] if "401" not in p] == []
    stamps = seen["stamps"]
    [row] = [s for s in stamps if s["where"] == "live-calls" and s["tag"] == "TR"]
    assert CUSTOMER in row["text"]
    assert row["at"] / 1000 - connected < SHOWN_WITHIN
    lines = {s["text"]: s["at"] / 1000 for s in stamps if s["tag"] == "LI"}
    assert lines["Caller: Thank you"] - second["sent"] < SHOWN_WITHIN
    reply = "Assistant: " + second["reply"]["transcript"]
    assert lines[reply + " (interrupted)"] - second["reply_at"] < SHOWN_WITHIN
    assert seen["screenshot"].stat().st_size > 10_000
