"""Support for the browser tests (no tests here): real Chromium, a speaking fake microphone, and
a window on what the relay forwarded upstream.

Debian's ``/usr/bin/chromium`` is driven by Playwright's *sync* API (Playwright never downloads
a browser here: ``scripts/install-chromium`` installs Debian's, with espeak-ng and sox).  The
sync API belongs to the thread that started it, and the relay under test runs in the test's own
trio loop, so a browser scenario is a plain function run whole in a worker thread
(`in_browser`); when it needs the relay side it calls back into trio with
``trio.from_thread.run``.  Every Playwright action and expectation has its own timeout
(`ACTION_TIMEOUT_MS`), which bounds the thread: a stuck step raises there and the browser is
closed by `chromium`'s ``finally``.

Shared by the browser test modules (imported by name: the tests directory is on ``sys.path``
under pytest's default ``prepend`` import mode).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
import trio
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, expect, sync_playwright

from app.model.upstream import Upstream
from tests.support.harness import DelegatingConnector
from tests.support.paths import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
#: Bound on every single Playwright action and expectation.
ACTION_TIMEOUT_MS = 15_000
#: Bound on making the speech file.
TOOL_TIMEOUT = 30.0
#: The words the fake microphone says (the simulator hears any speech as its next scripted line).
SPEECH = "I need help with my order"

# The flags of the issue: fake microphone and permission prompt, nothing that phones home.
FLAGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

T = TypeVar("T")


def require_browser_tools() -> None:
    """Fail (not skip) without the tools: CI installs them, so their absence is a real fault."""
    missing = [str(CHROMIUM)] if not CHROMIUM.exists() else []
    missing += [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        tools = ", ".join(missing)
        pytest.fail(f"missing {tools}: run scripts/install-chromium (scripts/test does)")


async def speech_wav(
    directory: Path, *, lead_s: float = 0.4, tail_s: float, text: str = SPEECH
) -> Path:
    """``text`` spoken by espeak-ng, as the 48 kHz 16-bit mono WAV Chromium's fake microphone
    plays, with ``lead_s`` of silence before and ``tail_s`` after.

    Chromium plays the file in a loop, so ``tail_s`` decides when the caller speaks again:
    long enough for a whole reply to play, or short enough to talk over it (barge-in).
    """
    raw = directory / "espeak.wav"
    wav = directory / f"speech-{lead_s:g}-{tail_s:g}.wav"
    with trio.fail_after(TOOL_TIMEOUT):
        await trio.run_process(["espeak-ng", "-w", str(raw), text])
        resample = ["-r", "48000", "-b", "16", "-c", "1"]
        await trio.run_process(
            ["sox", str(raw), *resample, str(wav), "pad", f"{lead_s:g}", f"{tail_s:g}"]
        )
    return wav


@contextmanager
def chromium(profile: Path, microphone: Path | None = None) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile (``--user-data-dir``) and, given a WAV file, a fake
    microphone playing it.  The browser process is stopped when the block exits."""
    args = list(FLAGS)
    if microphone is not None:
        args.append(f"--use-file-for-fake-audio-capture={microphone}")
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=args,
            viewport={"width": 1100, "height": 900},
            accept_downloads=True,
        )
        try:
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            yield context
        finally:
            context.close()


async def in_browser(scenario: Callable[[], T]) -> T:
    """Run a browser scenario in a worker thread (see the module docstring for its bounds)."""
    return await trio.to_thread.run_sync(scenario)


@attrs.define(eq=False)
class PageProblems:
    """Console errors and uncaught exceptions of a page, CSP violations included (Chromium
    reports a blocked script or style as a console error)."""

    messages: list[str] = attrs.Factory(list)

    @classmethod
    def watch(cls, page: Page) -> PageProblems:
        problems = cls()

        # Plain functions: Playwright tags handlers with attributes, which a bound method of a
        # slotted class cannot take.
        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                problems.messages.append(f"console: {message.text}")

        def uncaught(error: Exception) -> None:
            problems.messages.append(f"uncaught: {error}")

        page.on("console", console)
        page.on("pageerror", uncaught)
        return problems


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ (git-ignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def page_url(port: int, path: str = "/") -> str:
    return f"http://127.0.0.1:{port}{path}"


@attrs.define(eq=False)
class RecordingUpstream:
    """An upstream connection that keeps every event the relay sends it, audio appends aside
    (those are counted: fifty a second of base64 would only cost memory)."""

    inner: Upstream
    sent: list[dict[str, Any]]
    appends: list[int]

    async def send(self, text: str) -> None:
        if text.startswith('{"type":"input_audio_buffer.append"'):
            self.appends[0] += 1
        else:
            self.sent.append(json.loads(text))
        await self.inner.send(text)

    async def receive(self) -> str | bytes:
        return await self.inner.receive()

    async def aclose(self, code: int = 1000) -> None:
        await self.inner.aclose(code)


@attrs.define(eq=False)
class RecordingConnector(DelegatingConnector):
    """The relay's real connector, with every connection wrapped in a `RecordingUpstream`: the
    test sees what the relay received from the browser and forwarded."""

    sent: list[dict[str, Any]] = attrs.Factory(list)
    appends: list[int] = attrs.Factory(lambda: [0])

    async def connect(self, nursery: trio.Nursery) -> Upstream:
        return RecordingUpstream(await self.inner.connect(nursery), self.sent, self.appends)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.sent if event.get("type") == event_type]
