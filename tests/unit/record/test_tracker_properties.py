"""Property tests of the conversation tracker: whatever the peers send, in whatever order.

Two sources of event streams, in both dialects:

* the recorded calls (``tests/data``), damaged: reordered, duplicated, cut short, renamed into
  the other dialect, with unknown event types and fields of the wrong type, at odd times;
* streams made up from the event vocabulary the tracker reads, with a handful of item ids so
  that events keep meeting the same items, mixed with the relay's hot-path audio and hand-off
  calls.

For every stream the tracker must not raise, its record must keep its invariants, a record
taken after every event must equal one taken only at the end (the revision misses no change),
and the document built from it must keep the document's invariants
(:func:`tests.test_document_properties.check_document`).

Hypothesis runs derandomized, without an example database and without deadlines, so CI is
deterministic and a loaded machine cannot make a test flaky.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.record.document import build_document
from app.record.tracker import ConversationRecord, ConversationTracker
from app.rules.dialect import BETA_NAMES, GA_NAMES, Dialect
from app.rules.handoff import HANDOFF_PREFIX
from app.rules.reasons import DisconnectReason
from tests.support.document_checks import check_document
from tests.support.event_types import TRACKED_EVENT_TYPES
from tests.support.paths import DATA_DIR
from tests.support.recorded import RecordedEvent, load

PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

RECORDINGS = {path.name: load(path) for path in sorted(DATA_DIR.glob("*.jsonl"))}

#: One step of a stream: what the relay calls, with what, and when.
StepKind = Literal["client", "upstream", "audio", "handoff"]
Step = tuple[StepKind, Any, float]

# -- values a peer may send -------------------------------------------------------------------

TRICKY_TEXT = [
    "", " ", "\n\t", "hello", "hello world", " padded ", "é café", "中文", "😀 emoji",
    "\ud800 lone surrogate", "a\u0000b", "transfer_to_", "transfer_to_sales", "x" * 300,
]  # fmt: skip
texts = st.sampled_from(TRICKY_TEXT) | st.text(max_size=40)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**70, 10**400, -1, 0, 3])
    | st.floats()
    | texts
)
junk = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
times = st.floats(min_value=0.0, max_value=4000.0) | st.sampled_from(
    [math.nan, math.inf, -math.inf, -1.0, 0.0]
)

_NAME_FIELDS = [field.name for field in attrs.fields(type(GA_NAMES))]
GA_TO_BETA = {
    getattr(GA_NAMES, name): getattr(BETA_NAMES, name)
    for name in _NAME_FIELDS
    if getattr(BETA_NAMES, name) is not None
}
BETA_TO_GA = {beta: ga for ga, beta in GA_TO_BETA.items()}
EVENT_TYPES = TRACKED_EVENT_TYPES
ITEM_IDS = ["u1", "u2", "a1", "a2", "f1"]
FIELDS = [
    "item_id", "previous_item_id", "delta", "transcript", "text", "content_index",
    "audio_end_ms", "name", "call_id", "arguments", "item",
]  # fmt: skip

# -- damaged recordings -----------------------------------------------------------------------


def _other_dialect(event: dict[str, Any]) -> dict[str, Any]:
    kind = event.get("type")
    renamed = GA_TO_BETA.get(kind) or BETA_TO_GA.get(kind)
    return event if renamed is None else event | {"type": renamed}


@st.composite
def damaged_event(draw: st.DrawFn, event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with one field (top level or in its item) deleted or of another type."""
    event = copy.deepcopy(event)
    target = event
    if isinstance(event.get("item"), dict) and draw(st.booleans()):
        target = event["item"]
    if not target:
        return event
    key = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(junk)
    return event


@st.composite
def damaged_recordings(draw: st.DrawFn) -> list[Step]:
    """A recorded call, reordered, duplicated, cut short and otherwise damaged."""
    name = draw(st.sampled_from(sorted(RECORDINGS)))
    events: list[RecordedEvent] = list(RECORDINGS[name])
    if draw(st.booleans()):  # reordered: a few swaps, or a full shuffle
        if draw(st.booleans()):
            events = list(draw(st.permutations(events)))
        else:
            for _ in range(draw(st.integers(0, 6))):
                i = draw(st.integers(0, len(events) - 1))
                j = draw(st.integers(0, len(events) - 1))
                events[i], events[j] = events[j], events[i]
    for _ in range(draw(st.integers(0, 4))):  # duplicated events
        i = draw(st.integers(0, len(events) - 1))
        events.insert(draw(st.integers(i, len(events))), events[i])
    events = events[: draw(st.integers(0, len(events)))]  # cut short
    steps: list[Step] = []
    for recorded in events:
        event = recorded.event
        roll = draw(st.integers(0, 9))
        if roll == 0:
            event = draw(damaged_event(event))
        elif roll == 1:
            event = _other_dialect(event)
        elif roll == 2:
            event = event | {"type": draw(st.sampled_from(["no.such.event", "", "response"]))}
        at = draw(times) if draw(st.integers(0, 19)) == 0 else recorded.at
        steps.append((recorded.direction, event, at))
    for _ in range(draw(st.integers(0, 2))):  # unknown events anywhere
        position = draw(st.integers(0, len(steps)))
        steps.insert(position, ("upstream", {"type": draw(texts), "item_id": draw(junk)}, 1.0))
    return steps


# -- made-up streams --------------------------------------------------------------------------

ids = st.sampled_from(ITEM_IDS)
plausible_values: dict[str, st.SearchStrategy[Any]] = {
    "item_id": ids,
    "previous_item_id": st.none() | ids,
    "delta": texts,
    "transcript": texts,
    "text": texts,
    "content_index": st.integers(-1, 2),
    "audio_end_ms": st.floats(-100, 5000, allow_nan=False),
    "name": st.sampled_from(["lookup_order", "transfer_to_sales", "transfer_to_", ""]),
    "call_id": st.just("call_1"),
    "arguments": st.just("{}"),
}


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    content = draw(
        st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["input_text", "input_audio", "audio", "text"])},
                optional={"text": texts, "transcript": st.none() | texts},
            ),
            max_size=2,
        )
    )
    item = {
        "id": draw(ids),
        "type": draw(st.sampled_from(["message", "function_call", "function_call_output"])),
        "role": draw(st.sampled_from(["user", "assistant", "system"])),
        "name": draw(plausible_values["name"]),
        "content": content,
    }
    kept = draw(st.lists(st.sampled_from(sorted(item)), unique=True))
    return {key: item[key] for key in kept} if draw(st.booleans()) else item


@st.composite
def made_up_events(draw: st.DrawFn) -> Any:
    event: dict[str, Any] = {"type": draw(st.sampled_from(EVENT_TYPES))}
    for key in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=6)):
        if key == "item":
            event[key] = draw(items())
        elif draw(st.integers(0, 7)) == 0:
            event[key] = draw(junk)
        else:
            event[key] = draw(plausible_values[key])
    return event


@st.composite
def made_up_steps(draw: st.DrawFn) -> list[Step]:
    steps: list[Step] = []
    clock = 0.0
    for _ in range(draw(st.integers(0, 40))):
        clock += draw(st.floats(0.0, 3.0))
        at = draw(times) if draw(st.integers(0, 19)) == 0 else clock
        kinds: list[StepKind] = ["client", "upstream", "upstream", "audio", "handoff"]
        kind = draw(st.sampled_from(kinds))
        if kind == "audio":
            steps.append((kind, (draw(ids), draw(st.integers(0, 200_000))), at))
        elif kind == "handoff":
            steps.append((kind, draw(st.sampled_from(["sales", "root", "support", ""])), at))
        elif draw(st.integers(0, 15)) == 0:
            steps.append((kind, draw(junk), at))  # not even an object
        else:
            steps.append((kind, draw(made_up_events()), at))
    return steps


# -- running and checking ---------------------------------------------------------------------


def run(steps: Sequence[Step], *, record_every_step: bool = False) -> ConversationTracker:
    tracker = ConversationTracker()
    for kind, payload, at in steps:
        if kind == "client":
            tracker.observe_client(payload, at)
        elif kind == "upstream":
            tracker.observe_upstream(payload, at)
        elif kind == "audio":
            tracker.observe_audio_delta(payload[0], payload[1], at)
        else:
            tracker.observe_handoff(payload, at)
        if record_every_step:
            check_record(tracker.record())
    return tracker


def check_record(record: ConversationRecord) -> None:
    """The record's invariants, whatever the events were."""
    for message in record.messages:
        assert message.sender in ("user", "assistant")
        assert message.message == message.message.strip()
        # Text always: what was heard, or (a reply cut to nothing) what the model said.
        assert message.message or message.said
        if message.said is not None:
            # Only a confirmed truncate of an assistant reply keeps both, the heard text a
            # beginning of the said one.
            assert message.sender == "assistant" and message.interrupted
            assert message.said.startswith(message.message) and message.said != message.message
        assert not (message.interrupted and message.sender == "user"), message
    interrupted = sum(1 for message in record.messages if message.interrupted)
    assert record.interruptions == interrupted
    assert len(set(record.tools_called)) == len(record.tools_called)
    assert all(name and not name.startswith(HANDOFF_PREFIX) for name in record.tools_called)
    assert len(set(record.agents_used)) == len(record.agents_used)
    assert record.agents_used[0] == record.initial_agent == "root"
    assert all(isinstance(agent, str) and agent for agent in record.agents_used)


START = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def check_stream(steps: Sequence[Step]) -> None:
    watched = run(steps, record_every_step=True)
    unwatched = run(steps)
    record = unwatched.record()
    check_record(record)
    assert watched.record() == record, "a change did not move the revision"
    assert watched.message_count == len(record.messages)
    document = build_document(
        record,
        session_id="s1",
        customer_id="c1",
        start=START,
        end=START + timedelta(seconds=90),
        reason=DisconnectReason.CLIENT_GONE,
    )
    assert (document is None) == (not record.messages)
    if document is not None:
        check_document(document)


@PROPERTY_SETTINGS
@given(damaged_recordings())
def test_damaged_recordings_keep_the_invariants(steps: list[Step]) -> None:
    check_stream(steps)


@PROPERTY_SETTINGS
@given(made_up_steps())
def test_made_up_streams_keep_the_invariants(steps: list[Step]) -> None:
    check_stream(steps)


@PROPERTY_SETTINGS
@given(st.sampled_from(sorted(RECORDINGS)), st.data())
def test_a_duplicated_recording_keeps_its_messages(name: str, data: st.DataObject) -> None:
    # Upstream events delivered twice in a row, as a replaying peer might: they are idempotent
    # (deltas aside, left single), so the messages stay those of the clean recording. A client
    # sending the same text twice is two messages, so client events are not repeated.
    events = RECORDINGS[name]
    clean = run([(event.direction, event.event, event.at) for event in events]).record()
    repeated = data.draw(st.sets(st.integers(0, max(0, len(events) - 1))))
    steps: list[Step] = []
    for position, event in enumerate(events):
        repeat = event.direction == "upstream" and not _is_delta(event.event)
        copies = 2 if position in repeated and repeat else 1
        steps.extend([(event.direction, event.event, event.at)] * copies)
    record = run(steps).record()
    check_record(record)
    assert [message.message for message in record.messages] == [
        message.message for message in clean.messages
    ]


def _is_delta(event: dict[str, Any]) -> bool:
    return str(event.get("type", "")).endswith(".delta")


def test_both_dialects_of_each_recording_give_the_same_record() -> None:
    # The property the recordings were written for, checked across all of them at once.
    names = {name.split(".")[0] for name in RECORDINGS}
    for scenario in sorted(names):
        records = [
            run([(e.direction, e.event, e.at) for e in RECORDINGS[f"{scenario}.{d.value}.jsonl"]])
            for d in Dialect
        ]
        assert records[0].record() == records[1].record(), scenario


# -- what the properties found, kept as regression tests --------------------------------------


def test_interruption_of_an_item_that_never_said_anything_is_not_counted() -> None:
    # Found by the made-up streams: audio, then speech while it plays, and the item never gets
    # any text. The record counted an interruption no message showed (more interruptions than
    # assistant messages in the document).
    record = run([("audio", ("u1", 1), 0.0), ("upstream", SPEECH, 0.0)]).record()
    assert record == ConversationRecord(
        messages=(), interruptions=0, tools_called=(), agents_used=("root",), initial_agent="root"
    )


def test_audio_naming_a_user_item_cannot_mark_the_caller_interrupted() -> None:
    transcribed = {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "u1",
        "transcript": "hello there",
    }
    record = run(
        [("upstream", transcribed, 0.0), ("audio", ("u1", 64_000), 1.0), ("upstream", SPEECH, 1.5)]
    ).record()
    assert [(m.sender, m.message, m.interrupted) for m in record.messages] == [
        ("user", "hello there", False)
    ]
    assert record.interruptions == 0


def test_a_lone_surrogate_from_a_peer_still_makes_a_storable_document() -> None:
    # json.loads('"\\ud800"') is a lone surrogate, which UTF-8 refuses: the store and the
    # spool would both have failed on the document and lost the call.
    client_text = json.loads('{"type": "input_text", "text": "card \\ud83d ok"}')
    item = {"role": "user", "content": [client_text]}
    create = {"type": "conversation.item.create", "item": item}
    record = run([("client", create, 0.0)]).record()
    # Read as the model reads it (UTF-8 on the wire): U+FFFD, so its echo matches this copy.
    assert record.messages[0].message == "card \ufffd ok"
    document = build_document(
        record,
        session_id="s1",
        customer_id=None,
        start=START,
        end=START,
        reason=DisconnectReason.USER_HANGUP,
    )
    assert document is not None
    assert document["messages"][0]["message"] == "card \ufffd ok"
    check_document(document)


def test_a_function_call_naming_a_message_item_moves_the_revision() -> None:
    # Found by the made-up streams: arguments.done naming an item that held assistant text
    # turned it into a function call (no longer a message) without moving the revision, so
    # the cached record, and every checkpoint keyed on the revision, kept the stale message.
    said = {"type": "response.output_text.done", "item_id": "u2", "text": "hello"}
    done = {"type": "response.function_call_arguments.done", "item_id": "u2"}
    steps: list[Step] = [("upstream", said, 0.0), ("upstream", done, 0.0)]
    assert run(steps, record_every_step=True).record() == run(steps).record()
    assert run(steps).record().messages == ()


SPEECH = {"type": "input_audio_buffer.speech_started"}
