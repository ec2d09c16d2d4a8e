"""The voice client at / in real Chromium: a spoken call, a closed tab, and barge-in.

The fake microphone plays espeak-ng saying "I need help with my order"; the relay's built-in
simulator, at the demo's pacing (its default options, not the harness's fast ones), hears it by
energy, answers with its first scripted line, and streams a reply whose audio the page plays.
What the page shows is checked through its accessible names (DESIGN.md "The pages"), what the
relay got through a recording connector, and what was logged through the store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import trio
from playwright.sync_api import Locator, Page, expect

from app.simulator import SimulatorOptions
from app.simulator.audio import reply_duration_ms
from app.simulator.script import OFFER_HELP, USER_LINES
from tests.support.browser import (
    PageProblems,
    RecordingConnector,
    chromium,
    in_browser,
    page_url,
    require_browser_tools,
    screenshot,
    speech_wav,
)
from tests.support.harness import relay_settings, running_relay

#: The reply to the first utterance, and how long its audio lasts.
REPLY_MS = reply_duration_ms(OFFER_HELP)
#: Silence after the speech long enough for the whole reply to play before the file loops.
LONG_PAUSE_S = 9.0
#: Silence short enough that the caller speaks again while the reply is still playing.
SHORT_PAUSE_S = 1.0


def start_call(page: Page, port: int, customer_id: str) -> Locator:
    """Open the page, dial, and return the transcript log."""
    page.goto(page_url(port))
    page.get_by_label("Customer ID").fill(customer_id)
    page.get_by_role("button", name="Connect").click()
    return page.get_by_role("log", name="Transcript")


def played_ms(entry: Locator) -> float:
    return float(entry.get_attribute("data-played-ms") or 0)


def wait_played(page: Page, entry: Locator, at_least_ms: float) -> None:
    page.wait_for_function(
        "([entry, ms]) => Number(entry.dataset.playedMs || 0) >= ms",
        arg=[entry.element_handle(), at_least_ms],
    )


def recording() -> tuple[list[RecordingConnector], Any]:
    """A ``wrap_connector`` for `running_relay` that keeps the recording connector it makes."""
    made: list[RecordingConnector] = []

    def wrap(inner: Any) -> RecordingConnector:
        made.append(RecordingConnector(inner))
        return made[0]

    return made, wrap


async def test_a_spoken_call_is_answered_played_and_logged_on_hang_up(tmp_path: Path) -> None:
    require_browser_tools()
    wav = await speech_wav(tmp_path, tail_s=LONG_PAUSE_S)
    settings = relay_settings(tmp_path / "relay")
    made, wrap = recording()
    async with running_relay(settings, simulator=SimulatorOptions(), wrap_connector=wrap) as relay:
        [recorder] = made

        def scenario() -> dict[str, Any]:
            with chromium(tmp_path / "profile", wav) as browser:
                page = browser.new_page()
                problems = PageProblems.watch(page)
                log = start_call(page, relay.port, "browser-caller")
                # The meter follows the microphone while the caller speaks.
                page.wait_for_function("() => document.getElementById('mic-level').value > 0.3")
                status = page.get_by_role("status")
                expect(status).to_have_text("Hearing you…")
                user = log.locator(".entry.user")
                assistant = log.locator(".entry.assistant")
                expect(user).to_have_text(f"You: {USER_LINES[0]}")
                expect(assistant).to_have_text(f"Agent: {OFFER_HELP}")
                expect(status).to_have_text("The agent is speaking…")
                wait_played(page, assistant, REPLY_MS - 25)
                expect(status).to_have_text("Your turn: the agent is listening.")
                entries = log.locator(".entry").count()
                shot = screenshot(page, "voice-client.png")
                page.get_by_role("button", name="Hang up").click()
                expect(status).to_have_text("Call ended.")
                expect(page.get_by_role("button", name="Connect")).to_be_enabled()
                expect(page.get_by_role("button", name="Hang up")).to_be_disabled()
                return {
                    "problems": problems.messages,
                    "entries": entries,
                    "played": played_ms(assistant),
                    "screenshot": shot,
                }

        seen = await in_browser(scenario)
        await relay.wait_calls_ended()
        [doc] = await relay.documents()

    assert seen["problems"] == []
    assert seen["entries"] == 2  # one entry per message
    # Every millisecond of the reply was played, none twice (the jitter buffer lost nothing).
    assert abs(seen["played"] - REPLY_MS) < 25, seen["played"]
    assert seen["screenshot"].stat().st_size > 10_000
    # 20 ms frames: ~50 a second from connect to hang-up, all forwarded.
    assert recorder.appends[0] > 150
    assert recorder.of_type("conversation.item.truncate") == []
    assert doc["customer_id"] == "browser-caller"
    assert doc["disconnect_reason"] == "user_hangup"
    assert doc["graceful_disconnect"] is True
    assert doc["messages"] == [
        {"sender": "user", "message": USER_LINES[0], "interrupted": False},
        {"sender": "assistant", "message": OFFER_HELP, "interrupted": False},
    ]


async def test_closing_the_tab_mid_call_is_client_gone_not_a_hang_up(tmp_path: Path) -> None:
    require_browser_tools()
    wav = await speech_wav(tmp_path, tail_s=LONG_PAUSE_S)
    settings = relay_settings(tmp_path / "relay")
    async with running_relay(settings, simulator=SimulatorOptions()) as relay:

        def scenario() -> None:
            with chromium(tmp_path / "profile", wav) as browser:
                page = browser.new_page()
                log = start_call(page, relay.port, "browser-tab")
                assistant = log.locator(".entry.assistant")
                # Mid-call: the agent is still talking when the tab goes away.
                expect(page.get_by_role("status")).to_have_text("The agent is speaking…")
                wait_played(page, assistant, 200)
                page.close()
                # The relay's side, from this thread (bounded by wait_calls_ended itself).
                trio.from_thread.run(relay.wait_calls_ended)

        await in_browser(scenario)
        [doc] = await relay.documents()

    assert doc["customer_id"] == "browser-tab"
    assert doc["disconnect_reason"] == "client_gone"
    assert doc["graceful_disconnect"] is False
    assert [m["sender"] for m in doc["messages"]] == ["user", "assistant"]


async def test_speaking_over_the_reply_stops_playback_and_truncates(tmp_path: Path) -> None:
    require_browser_tools()
    wav = await speech_wav(tmp_path, tail_s=SHORT_PAUSE_S)
    settings = relay_settings(tmp_path / "relay")
    made, wrap = recording()
    async with running_relay(settings, simulator=SimulatorOptions(), wrap_connector=wrap) as relay:
        [recorder] = made

        def scenario() -> dict[str, Any]:
            with chromium(tmp_path / "profile", wav) as browser:
                page = browser.new_page()
                problems = PageProblems.watch(page)
                log = start_call(page, relay.port, "browser-barge")
                first_reply = log.locator(".entry.assistant").first
                wait_played(page, first_reply, 100)
                # The file loops: the caller speaks again while the reply plays.
                expect(first_reply).to_have_class(re.compile(r"\binterrupted\b"))
                expect(first_reply.locator(".flag")).to_have_text("(interrupted)")
                expect(page.get_by_role("status")).to_have_text("Hearing you…")
                item_id = first_reply.get_attribute("data-item-id")
                heard = played_ms(first_reply)
                screenshot(page, "voice-client-barge-in.png")
                page.get_by_role("button", name="Hang up").click()
                expect(page.get_by_role("status")).to_have_text("Call ended.")
                return {"problems": problems.messages, "item_id": item_id, "heard": heard}

        seen = await in_browser(scenario)
        await relay.wait_calls_ended()
        [doc] = await relay.documents()

    assert seen["problems"] == []
    [truncate, *_] = recorder.of_type("conversation.item.truncate")
    assert truncate["item_id"] == seen["item_id"]
    assert truncate["content_index"] == 0
    # Cut short: some of the reply was heard, not all of it.
    assert 0 < truncate["audio_end_ms"] < REPLY_MS - 500
    assert truncate["audio_end_ms"] == int(seen["heard"])
    reply = doc["messages"][1]
    assert reply["sender"] == "assistant"
    assert reply["interrupted"] is True
    assert OFFER_HELP.startswith(reply["message"])
    assert len(reply["message"]) < len(OFFER_HELP)
    assert doc["metadata"]["interruptions"] >= 1
    assert doc["disconnect_reason"] == "user_hangup"


async def test_an_unreachable_model_is_explained_in_plain_words(tmp_path: Path) -> None:
    require_browser_tools()
    settings = relay_settings(tmp_path / "relay")
    async with running_relay(settings, simulator=SimulatorOptions(refuse=True)) as relay:

        def scenario() -> list[str]:
            with chromium(tmp_path / "profile") as browser:
                page = browser.new_page()
                problems = PageProblems.watch(page)
                start_call(page, relay.port, "browser-unlucky")
                expect(page.get_by_role("alert")).to_have_text(
                    "The voice service is unavailable right now. Please try again later."
                )
                expect(page.get_by_role("status")).to_have_text("Not connected.")
                expect(page.get_by_role("button", name="Connect")).to_be_enabled()
                return problems.messages

        assert await in_browser(scenario) == []
        await relay.wait_calls_ended()
        assert await relay.documents() == []  # nothing was said: nothing logged
