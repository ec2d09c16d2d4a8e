"""Recorded Realtime event sequences, and replaying them into a tracker.

Each ``tests/data/<scenario>.<dialect>.jsonl`` holds one call as the relay saw it, one JSON object
a line: ``{"dir": "client" | "upstream", "at": seconds, "event": {...}}``. They were written by
hand after the event shapes of openai-python's ``types/realtime`` (GA) and
``types/beta/realtime`` (beta), with audio deltas of real base64 sizes (PCM16, 24 kHz: 64,000
characters a second), so the same scenario can be checked in both dialects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import attrs

from app.record.tracker import ConversationTracker
from app.rules.dialect import Dialect
from tests.support.paths import DATA_DIR


@attrs.frozen
class RecordedEvent:
    """One event of a recording: who sent it, when the relay saw it, and the parsed event."""

    direction: Literal["client", "upstream"]
    at: float
    event: dict[str, Any]


def recording_path(scenario: str, dialect: Dialect) -> Path:
    return DATA_DIR / f"{scenario}.{dialect.value}.jsonl"


def load(path: Path) -> list[RecordedEvent]:
    """The events of one recording, checked for the line shape (a broken file fails loudly)."""
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        direction, at, event = raw["dir"], raw["at"], raw["event"]
        if direction not in ("client", "upstream") or not isinstance(event, dict):
            raise ValueError(f"{path.name}:{number}: not a recorded event")
        events.append(RecordedEvent(direction=direction, at=float(at), event=event))
    return events


def replay(tracker: ConversationTracker, events: Iterable[RecordedEvent]) -> None:
    """Feed ``events`` to ``tracker`` the way the relay does on its careful path."""
    for recorded in events:
        if recorded.direction == "client":
            tracker.observe_client(recorded.event, recorded.at)
        else:
            tracker.observe_upstream(recorded.event, recorded.at)


def replayed(scenario: str, dialect: Dialect) -> ConversationTracker:
    """A tracker that has seen the whole recording of ``scenario`` in ``dialect``."""
    tracker = ConversationTracker(dialect=dialect)
    replay(tracker, load(recording_path(scenario, dialect)))
    return tracker
