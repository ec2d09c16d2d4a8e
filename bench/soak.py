"""Soak: 100 calls streaming audio for 10 minutes; the relay holds steady and logs every call.

    .venv/bin/python bench/soak.py [--calls 100] [--minutes 10] [--sample-seconds 60]

Runs ``python -m app`` (built-in simulator, SQLite in a temporary directory) and, in this process,
one set of trio tasks holding ``--calls`` trio-websocket connections
(tests/support/fleet.py).  Each call
says a typed line, then streams a 20 ms PCM16 frame every 20 ms: a second of tone (which the
simulator hears as speech: a turn, a transcript, a spoken reply) every ten seconds, silence
otherwise, and reads everything the relay sends.  Every ``--sample-seconds`` it prints the relay's
resident memory, open file descriptors and CPU.  At the end every caller hangs up (close 1000)
and the script checks that the store holds exactly one ``user_hangup`` document per call and
that the relay took every frame that was sent.

The figures depend on the machine: on a shared one, note its load next to them.  Everything stays
on 127.0.0.1; the relay is stopped (SIGTERM, then checked for exit 0) before the script returns.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.store.sqlite import SQLiteStore
from bench.procstat import cpu_seconds
from tests.support.fleet import AudioPattern, Caller, Countdown, open_call
from tests.support.relay_process import RelayProcess, relay_process

#: A second of speech (50 frames) every ten seconds (500 frames).
SPEECH = AudioPattern(cycle_frames=500, speech_frames=50)
CONNECTING_AT_ONCE = 50
#: Bounds on the set-up (every call connected, talking and streaming) and on the wrap-up (every
#: document stored after the hang-up).
SETUP_TIMEOUT = 120.0
WRAP_UP_TIMEOUT = 60.0
POLL_INTERVAL = 0.2
FRAMES_RELAYED = re.compile(r"closed after [\d.]+ s: (\d+) frames from the browser")


@attrs.frozen
class Sample:
    at: float
    rss_kib: int
    fds: int
    cpu_seconds: float

    @classmethod
    def of(cls, pid: int, at: float) -> Sample:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = re.search(r"VmRSS:\s+(\d+) kB", status)
        if rss is None:
            raise RuntimeError(f"no VmRSS in /proc/{pid}/status")
        return cls(at, int(rss[1]), len(os.listdir(f"/proc/{pid}/fd")), cpu_seconds([pid]))

    def line(self, label: str, previous: Sample | None, frames: int) -> str:
        cpu = ""
        if previous is not None and self.at > previous.at:
            share = (self.cpu_seconds - previous.cpu_seconds) / (self.at - previous.at)
            cpu = f"{share * 100:5.0f} %"
        return (
            f"{label:>10} {self.rss_kib / 1024:9.1f} MiB {self.fds:6d} fds {cpu:>7} CPU"
            f" {frames:>10} frames sent"
        )


async def soak(calls: int, minutes: float, sample_seconds: float, data_dir: Path) -> int:
    fleet = [Caller(f"soak-{n}", f"Soak caller {n} here, can you hear me?") for n in range(calls)]
    env = {
        "MAX_CALLS": str(max(500, calls)),
        "CALL_MAX_DURATION": str(int(minutes * 60 + 600)),
        "LOG_LEVEL": "INFO",
    }
    async with relay_process(data_dir, **env) as relay:
        print(f"relay pid {relay.pid}, {calls} calls, {minutes:g} min, data in {data_dir}")
        print(f"machine load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
        streaming = Countdown(calls)
        hang_up = trio.Event()
        connecting = trio.CapacityLimiter(CONNECTING_AT_ONCE)

        async def hold(caller: Caller) -> None:
            async with open_call(relay.port, caller.customer_id) as client:
                async with connecting:
                    await caller.talk(client)
                await caller.stream_until_closed(
                    client, pattern=SPEECH, streaming=streaming, threshold=50, hang_up=hang_up
                )

        def sent() -> int:
            return sum(c.frames_sent for c in fleet)

        async with trio.open_nursery() as nursery:
            for caller in fleet:
                nursery.start_soon(hold, caller)
            with trio.fail_after(SETUP_TIMEOUT):
                await streaming.wait()
            start = Sample.of(relay.pid, trio.current_time())
            print(start.line("start", None, sent()), flush=True)
            previous = start
            end_at = start.at + minutes * 60
            while (now := trio.current_time()) < end_at:
                await trio.sleep(min(sample_seconds, end_at - now))
                sample = Sample.of(relay.pid, trio.current_time())
                label = f"{(sample.at - start.at) / 60:.1f} min"
                print(sample.line(label, previous, sent()), flush=True)
                previous = sample
            end = previous
            hang_up.set()
        frames_sent = sent()
        documents = await wait_documents(data_dir, calls)
        with trio.move_on_after(WRAP_UP_TIMEOUT):
            await relay.log.wait_until(lambda lines: len(relayed_counts(lines)) >= calls)
        after = Sample.of(relay.pid, trio.current_time())
        print(after.line("hung up", None, frames_sent))
        relay.process.send_signal(signal.SIGTERM)
        exit_code = await relay.wait_exit()
        return report(relay, fleet, documents, start, end, exit_code, frames_sent)


def relayed_counts(lines: list[str]) -> list[int]:
    """Frames the relay took from each ended call's browser (its per-call summary line)."""
    found = (FRAMES_RELAYED.search(line) for line in lines)
    return [int(m[1]) for m in found if m is not None]


async def wait_documents(data_dir: Path, calls: int) -> list[dict[str, Any]]:
    store = await SQLiteStore.open(data_dir / "conversations.sqlite3")
    try:
        with trio.move_on_after(WRAP_UP_TIMEOUT):
            # Polled: the relay is another process and offers no event to wait on.
            while await store.count() < calls:  # noqa: ASYNC110
                await trio.sleep(POLL_INTERVAL)
        return [doc async for doc in store.export()]
    finally:
        await store.aclose()


def report(
    relay: RelayProcess,
    fleet: list[Caller],
    documents: list[dict[str, Any]],
    start: Sample,
    end: Sample,
    exit_code: int,
    frames_sent: int,
) -> int:
    customers = Counter(doc["customer_id"] for doc in documents)
    reasons = Counter(doc["disconnect_reason"] for doc in documents)
    messages = [len(doc["messages"]) for doc in documents] or [0]
    interruptions = sum(doc["metadata"]["interruptions"] for doc in documents)
    relayed = sum(relayed_counts(relay.log.lines))
    # Each call also sent its typed line and a response.create before the audio.
    expected_relayed = frames_sent + 2 * len(fleet)
    problems = []
    if customers != Counter(c.customer_id for c in fleet):
        problems.append(f"documents per customer: {dict(customers)}")
    if reasons != {"user_hangup": len(fleet)}:
        problems.append(f"reasons: {dict(reasons)}")
    if relayed != expected_relayed:
        problems.append(f"the relay took {relayed} frames, {expected_relayed} were sent")
    if exit_code != 0:
        problems.append(f"the relay exited with {exit_code}")
    print(
        f"RSS {start.rss_kib / 1024:.1f} -> {end.rss_kib / 1024:.1f} MiB, "
        f"fds {start.fds} -> {end.fds}; relay CPU "
        f"{(end.cpu_seconds - start.cpu_seconds) / (end.at - start.at) * 100:.0f} % on average"
    )
    print(
        f"{len(documents)} documents ({dict(reasons)}), messages per call "
        f"{min(messages)}-{max(messages)}, {interruptions} interruptions; "
        f"{frames_sent} audio frames sent, {relayed} frames taken by the relay; "
        f"{sum(c.received for c in fleet)} events received by the callers"
    )
    print(f"machine load average at the end: {os.getloadavg()[0]:.2f}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        return trio.run(soak, args.calls, args.minutes, args.sample_seconds, Path(data_dir))


if __name__ == "__main__":
    sys.exit(main())
