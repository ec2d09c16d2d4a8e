"""The recording player on /admin, in real Chromium: an operator opens a recorded conversation
and its recording plays to the end, through a signed link (the ``<audio>`` element sends no
header), seeking included.  The recording is a real WAV under DATA_DIR/recordings and the
document references it, so this does not depend on the writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.support.browser import (
    PageProblems,
    chromium,
    in_browser,
    page_url,
    require_browser_tools,
    screenshot,
)
from tests.support.harness import relay_settings, running_relay
from tests.support.recordings import recorded_document, wav_bytes, write_local_recording

TOKEN = "admin-secret"
SECONDS = 1.5

#: Resolves with what the player did once its audio element fires ``ended`` (or an error).
PLAY_TO_THE_END = """
async (audio) => {
  const outcome = new Promise((resolve) => {
    audio.addEventListener("ended", () => resolve("ended"), { once: true });
    audio.addEventListener("error", () => resolve(`error ${audio.error?.code}`), { once: true });
  });
  if (audio.readyState < 1) {
    await new Promise((done) => audio.addEventListener("loadedmetadata", done, { once: true }));
  }
  const duration = audio.duration;
  audio.currentTime = 0.5;  // a seek: a range request the link must allow
  await audio.play();
  return { outcome: await outcome, duration, src: audio.currentSrc, at: audio.currentTime };
}
"""


#: Replaces the player's link by one whose signature is wrong; returns that link.
EXPIRE_THE_LINK = """
(audio) => {
  audio.src = audio.src.replace(/signature=[^&]+/, "signature=" + "A".repeat(43));
  return audio.getAttribute("src");
}
"""


async def test_the_player_plays_a_recorded_conversation_to_the_end(tmp_path: Path) -> None:
    require_browser_tools()
    data_dir = tmp_path / "relay"
    async with running_relay(relay_settings(data_dir, admin_token=TOKEN)) as relay:
        recorded = recorded_document(SECONDS, customer_id="cust-rec", session_id="rec")
        write_local_recording(data_dir, recorded, wav_bytes(SECONDS))
        await relay.store.save(recorded)
        plain = recorded_document(1.0, customer_id="cust-plain", session_id="plain")
        del plain["recording"]
        await relay.store.save(plain)

        def scenario() -> dict[str, Any]:
            with chromium(tmp_path / "profile") as browser:
                page = browser.new_page()
                problems = PageProblems.watch(page)
                page.goto(page_url(relay.port, "/admin"))
                page.get_by_label("Admin token").fill(TOKEN)
                page.get_by_role("button", name="Sign in").click()
                rows = page.get_by_role("table", name="Recent conversations").locator("tbody tr")
                expect(rows).to_have_count(2)
                # Before sign-in the page's first fetch is refused (401): that one is expected.
                problems.messages.clear()

                rows.filter(has_text="cust-plain").click()
                detail = page.get_by_role("region", name="Conversation with cust-plain")
                expect(detail).to_contain_text("Recordingnot recorded")
                expect(page.get_by_role("region", name="Recording")).to_be_hidden()

                rows.filter(has_text="cust-rec").click()
                detail = page.get_by_role("region", name="Conversation with cust-rec")
                expect(detail).to_contain_text("Recording1.5 s, complete")
                player = page.get_by_role("region", name="Recording")
                expect(player).to_be_visible()
                expect(player).to_contain_text("the assistant on the right")
                audio = page.locator("#detail-audio")
                played = audio.evaluate(PLAY_TO_THE_END)
                shot = screenshot(page, "admin-recording.png")
                seen_problems = list(problems.messages)
                # A link that stopped working (expired): the page asks for a new one and goes on.
                refused = audio.evaluate(EXPIRE_THE_LINK)
                expect(audio).not_to_have_attribute("src", refused)
                again = audio.evaluate(PLAY_TO_THE_END)
                return {
                    **played,
                    "again": again["outcome"],
                    "problems": seen_problems,
                    "later": problems.messages[len(seen_problems) :],
                    "screenshot": shot,
                }

        seen = await in_browser(scenario)

    assert seen["outcome"] == "ended"
    assert abs(seen["duration"] - SECONDS) < 0.01
    assert abs(seen["at"] - SECONDS) < 0.05
    assert "signature=" in seen["src"] and TOKEN not in seen["src"]
    assert seen["problems"] == []  # no CSP violation, no failed request
    assert seen["again"] == "ended"
    assert len(seen["later"]) == 1 and "403" in seen["later"][0]  # the refused link, once
    assert seen["screenshot"].stat().st_size > 10_000
