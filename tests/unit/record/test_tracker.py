"""The conversation tracker, fed recorded calls in both dialects and hand-made edge cases."""

from __future__ import annotations

import ast
import copy
import logging
import random
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from app.record.document import build_document
from app.record.tracker import ConversationRecord, ConversationTracker, Message
from app.record.tracker._items import cut_at_word_boundary
from app.rules.dialect import Dialect
from app.rules.reasons import DisconnectReason
from tests.support.event_types import TRACKED_EVENT_TYPES
from tests.support.paths import DATA_DIR, REPO_ROOT
from tests.support.recorded import load, replay, replayed


def user(text: str, interrupted: bool = False) -> Message:
    return Message(sender="user", message=text, interrupted=interrupted)


def assistant(text: str, interrupted: bool = False, said: str | None = None) -> Message:
    return Message(sender="assistant", message=text, interrupted=interrupted, said=said)


def expected(
    *messages: Message,
    interruptions: int = 0,
    tools: tuple[str, ...] = (),
    agents: tuple[str, ...] = ("root",),
) -> ConversationRecord:
    return ConversationRecord(
        messages=messages,
        interruptions=interruptions,
        tools_called=tools,
        agents_used=agents,
        initial_agent="root",
    )


EXPECTED = {
    # Each user transcription completes after the reply to it: order follows the items.
    "out_of_order": expected(
        user("Hi, I need help with my order."),
        assistant("Hello! How can I help you today?"),
        user("It's about the blue jacket I ordered."),
        assistant("Sure, what is your order number?"),
    ),
    # Speech starts 0.5 s into 1 s of reply audio; a second utterance during the same playback
    # does not count again, and a noise item transcribed as "" leaves no message.
    "barge_in": expected(
        user("I'd like to know the price of the premium plan."),
        assistant(
            "The premium plan costs forty-nine dollars a month and includes unlimited calls.",
            interrupted=True,
        ),
        user("Wait, can you repeat the price?"),
        assistant("Sure, it is forty-nine dollars a month."),
        interruptions=1,
    ),
    # Speech starts 0.1 s after 1 s of reply audio ended; the response was cancelled by the
    # client, which alone is no interruption.
    "after_playback": expected(
        user("What time do you close today?"),
        assistant("We close at six o'clock today."),
        user("Great, thank you."),
    ),
    # Truncated at 500 of 1000 ms: 28.5 of 57 characters, cut back to the word end at 28.
    # What the model said is kept beside what was heard.
    "truncate": expected(
        user("Has my order shipped yet?"),
        assistant(
            "Your order shipped yesterday",
            interrupted=True,
            said="Your order shipped yesterday and should arrive on Friday.",
        ),
        user("Friday is too late."),
        interruptions=1,
    ),
    # Truncated at 300 ms before the transcript is done, with 100 ms of audio still arriving
    # after the truncate: 300 of 800 ms is 24 of 64 characters.
    "truncate_early": expected(
        user("The jacket arrived torn."),
        assistant(
            "I can offer you a refund",
            interrupted=True,
            said="I can offer you a refund or a replacement, whichever you prefer.",
        ),
        user("A refund, please."),
        interruptions=1,
    ),
    # GA carries no name on arguments.done (taken from the item); the beta file does.
    "tool_call": expected(
        user("Where is my order 12345?"),
        assistant("Your order 12345 shipped yesterday."),
        user("When will it arrive? And what about order 67890?"),
        assistant("It arrives on Friday, and order 67890 is being packed."),
        tools=("lookup_order", "get_delivery_date"),
    ),
    # The recording holds the model's transfer_to_sales call, but not the relay performing it:
    # a requested hand-off is not a hand-off (test_a_handoff_is_recorded_only_when_performed).
    "handoff": expected(
        user("I'd like to buy the premium plan."),
        assistant("Hi, this is sales. I can set up the premium plan for you."),
    ),
    # Text echoed by the upstream (matched by text, then by client id), a reply cut off
    # mid-stream (partial text kept) and a client item the upstream never echoed.
    "text_items": expected(
        user("What are your opening hours?"),
        assistant("We are open from nine to five, Monday to Friday."),
        user("Do you have a store in Oslo?"),
        assistant("Yes, we have a store in the city centre"),
        user("Thanks, that's all."),
    ),
    # A failed transcription and a whitespace-only reply.
    "empty_call": expected(),
}


@pytest.mark.parametrize("dialect", list(Dialect), ids=lambda d: d.value)
@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_recorded_call(scenario: str, dialect: Dialect) -> None:
    tracker = replayed(scenario, dialect)
    assert tracker.record() == EXPECTED[scenario]
    assert tracker.message_count == len(EXPECTED[scenario].messages)


def test_every_recording_is_checked() -> None:
    on_disk = {path.name for path in DATA_DIR.glob("*.jsonl")}
    checked = {f"{scenario}.{d.value}.jsonl" for scenario in EXPECTED for d in Dialect}
    assert on_disk == checked


def test_tracker_ignores_the_dialect_it_was_told() -> None:
    # Both dialects' names are always understood: a beta call tracked as GA loses nothing.
    tracker = ConversationTracker(dialect=Dialect.GA)
    replay(tracker, load(DATA_DIR / "barge_in.beta.jsonl"))
    assert tracker.record() == EXPECTED["barge_in"]


def test_empty_call_has_no_document() -> None:
    now = datetime(2026, 11, 25, 15, 33, tzinfo=UTC)
    record = replayed("empty_call", Dialect.GA).record()
    document = build_document(
        record,
        session_id="s1",
        customer_id=None,
        start=now,
        end=now,
        reason=DisconnectReason.USER_HANGUP,
    )
    assert document is None


# -- hand-made events -----------------------------------------------------------------------


def added(item_id: str, previous: str | None, role: str = "user", **item: Any) -> dict[str, Any]:
    content = [{"type": "input_audio", "transcript": None}] if role == "user" else []
    body = {"id": item_id, "type": "message", "role": role, "content": content, **item}
    return {"type": "conversation.item.added", "previous_item_id": previous, "item": body}


def transcribed(item_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": item_id,
        "content_index": 0,
        "transcript": text,
    }


def said(item_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "response.output_audio_transcript.done",
        "item_id": item_id,
        "content_index": 0,
        "transcript": text,
    }


def texts(tracker: ConversationTracker) -> list[str]:
    return [message.message for message in tracker.record().messages]


def test_null_previous_item_appends_to_a_non_empty_conversation() -> None:
    tracker = ConversationTracker()
    for event in (added("u1", None), transcribed("u1", "first"), added("u2", None)):
        tracker.observe_upstream(event, 1.0)
    tracker.observe_upstream(transcribed("u2", "second"), 2.0)
    assert texts(tracker) == ["first", "second"]


def test_previous_item_inserts_right_after_it() -> None:
    tracker = ConversationTracker()
    tracker.observe_upstream(added("u1", None), 1.0)
    tracker.observe_upstream(added("a1", "u1", role="assistant"), 1.0)
    tracker.observe_upstream(added("u2", "u1"), 1.0)  # inserted between u1 and a1
    for item_id in ("u1", "u2"):
        tracker.observe_upstream(transcribed(item_id, item_id), 2.0)
    tracker.observe_upstream(said("a1", "a1"), 2.0)
    assert texts(tracker) == ["u1", "u2", "a1"]


def test_items_first_seen_elsewhere_are_appended_then_placed_by_an_announcement() -> None:
    tracker = ConversationTracker()
    tracker.observe_upstream(said("a1", "reply"), 1.0)  # never announced: appended
    tracker.observe_upstream(transcribed("u1", "question"), 1.0)  # appended after it
    assert texts(tracker) == ["reply", "question"]
    tracker.observe_upstream(added("u1", None), 2.0)
    tracker.observe_upstream(added("a1", "u1", role="assistant"), 2.0)
    assert texts(tracker) == ["question", "reply"]


def test_previous_item_never_seen_appends() -> None:
    tracker = ConversationTracker()
    tracker.observe_upstream(transcribed("u1", "one"), 1.0)
    tracker.observe_upstream(added("u2", "item_from_before_we_joined"), 1.0)
    tracker.observe_upstream(transcribed("u2", "two"), 1.0)
    assert texts(tracker) == ["one", "two"]


def test_client_text_item_is_not_duplicated_by_a_late_client_copy() -> None:
    tracker = ConversationTracker()
    item = {"id": "m1", "type": "message", "role": "user"}
    content = [{"type": "input_text", "text": "hello"}]
    tracker.observe_upstream(added("m1", None, content=content), 1.0)
    tracker.observe_client(
        {"type": "conversation.item.create", "item": item | {"content": content}}, 1.0
    )
    assert texts(tracker) == ["hello"]


def test_same_text_twice_from_the_client_is_two_messages() -> None:
    tracker = ConversationTracker()
    create = {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "yes"}],
        },
    }
    tracker.observe_client(create, 1.0)
    tracker.observe_client(create, 2.0)
    content = [{"type": "input_text", "text": "yes"}]
    tracker.observe_upstream(added("t1", None, content=content), 2.1)  # echo of the first
    assert texts(tracker) == ["yes", "yes"]


def test_client_items_other_than_user_text_are_ignored() -> None:
    tracker = ConversationTracker()
    for item in (
        {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "hi"}]},
        {
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "be nice"}],
        },
        {"type": "function_call_output", "call_id": "c1", "output": "{}"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "  "}]},
    ):
        tracker.observe_client({"type": "conversation.item.create", "item": item}, 1.0)
    assert tracker.record().messages == ()


def test_user_audio_without_transcription_has_no_message() -> None:
    tracker = ConversationTracker()
    tracker.observe_upstream(added("u1", None), 1.0)
    delta = {
        "type": "conversation.item.input_audio_transcription.delta",
        "item_id": "u1",
        "delta": "par",
    }
    tracker.observe_upstream(delta, 1.1)
    assert tracker.record().messages == ()


def test_partial_assistant_transcript_is_kept_when_the_call_ends() -> None:
    tracker = ConversationTracker(dialect=Dialect.BETA)
    for delta in ("Let me ", "check that for "):
        event = {"type": "response.audio_transcript.delta", "item_id": "a1", "delta": delta}
        tracker.observe_upstream(event, 1.0)
    assert tracker.record().messages == (assistant("Let me check that for"),)


# -- interruption ---------------------------------------------------------------------------

ONE_SECOND = 64_000  # base64 characters of PCM16 at 24 kHz


def playing(first_delta_at: float, seconds: float) -> ConversationTracker:
    tracker = ConversationTracker()
    tracker.observe_upstream(added("a1", None, role="assistant"), first_delta_at)
    tracker.observe_audio_delta("a1", int(ONE_SECOND * seconds), first_delta_at)
    tracker.observe_upstream(said("a1", "one two three four"), first_delta_at)
    return tracker


def speech(tracker: ConversationTracker, at: float) -> None:
    tracker.observe_upstream({"type": "input_audio_buffer.speech_started", "item_id": "u9"}, at)


def test_speech_just_before_playback_ends_interrupts() -> None:
    tracker = playing(10.0, 2.0)
    speech(tracker, 11.999)
    assert tracker.record().interruptions == 1
    assert tracker.record().messages == (assistant("one two three four", interrupted=True),)


def test_speech_when_playback_ends_does_not_interrupt() -> None:
    tracker = playing(10.0, 2.0)
    speech(tracker, 12.0)
    assert tracker.record().interruptions == 0
    assert tracker.record().messages[0].interrupted is False


def test_only_the_latest_audio_item_can_be_interrupted() -> None:
    tracker = playing(10.0, 5.0)  # a1 would still be "playing" at 11
    tracker.observe_audio_delta("a2", ONE_SECOND // 10, 10.5)  # but a2 started later
    speech(tracker, 11.0)  # a2 ended at 10.6
    assert tracker.record().interruptions == 0


def test_full_audio_delta_events_count_like_the_hot_path() -> None:
    tracker = ConversationTracker()
    delta = {"type": "response.output_audio.delta", "item_id": "a1", "delta": "A" * ONE_SECOND}
    tracker.observe_upstream(delta, 10.0)
    tracker.observe_upstream(said("a1", "hello there"), 10.0)
    speech(tracker, 10.9)
    assert tracker.record().messages == (assistant("hello there", interrupted=True),)


def truncate(tracker: ConversationTracker, audio_end_ms: Any, item_id: str = "a1") -> None:
    """The model confirms a truncate (the client's request alone changes nothing)."""
    event = {
        "type": "conversation.item.truncated",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": audio_end_ms,
    }
    tracker.observe_upstream(event, 20.0)


def test_truncate_at_zero_keeps_what_the_model_said() -> None:
    # Nothing was heard, but the agent said it: a client cannot erase a reply from the record.
    tracker = playing(10.0, 2.0)
    truncate(tracker, 0)
    assert tracker.record() == expected(
        assistant("", interrupted=True, said="one two three four"), interruptions=1
    )


def test_truncate_past_the_audio_sent_keeps_everything() -> None:
    tracker = playing(10.0, 2.0)
    truncate(tracker, 9_000)
    assert tracker.record().messages == (assistant("one two three four", interrupted=True),)


def test_a_truncate_the_model_did_not_confirm_changes_nothing() -> None:
    """A client's truncate the model refuses (-5 ms) or never answers does not cut the record."""
    tracker = playing(10.0, 2.0)
    for audio_end_ms in (-5, 0, 1000):
        request = {
            "type": "conversation.item.truncate",
            "item_id": "a1",
            "content_index": 0,
            "audio_end_ms": audio_end_ms,
        }
        tracker.observe_client(request, 20.0)
    refusal = {"type": "error", "error": {"code": "invalid_value", "event_id": "e1"}}
    tracker.observe_upstream(refusal, 20.1)
    assert tracker.record() == expected(assistant("one two three four"))


def test_truncate_without_audio_keeps_the_text() -> None:
    tracker = ConversationTracker()
    tracker.observe_upstream(said("a1", "text only"), 1.0)
    truncate(tracker, 100)
    assert tracker.record().messages == (assistant("text only", interrupted=True),)


def test_a_confirmed_truncate_counts_once() -> None:
    tracker = playing(10.0, 2.0)
    request = {"type": "conversation.item.truncate", "item_id": "a1", "audio_end_ms": 1000}
    tracker.observe_client(request, 20.0)
    truncate(tracker, 1000)
    assert tracker.record().interruptions == 1
    assert texts(tracker) == ["one two"]  # 9 of 18 characters
    assert tracker.record().messages[0].said == "one two three four"


def test_truncate_of_unknown_or_user_items_is_ignored() -> None:
    tracker = ConversationTracker()
    tracker.observe_upstream(transcribed("u1", "hello"), 1.0)
    truncate(tracker, 10, item_id="u1")
    truncate(tracker, 10, item_id="nobody")
    truncate(tracker, "10")
    assert tracker.record() == expected(user("hello"))


@pytest.mark.parametrize(
    ("fraction", "kept"),
    [
        (1.0, "one two three"),
        (0.99, "one two"),  # "three" was not heard to its end
        (7 / 13, "one two"),  # the cut lands on the space after "two"
        (6 / 13, "one"),
        (3 / 13, "one"),
        (2 / 13, ""),
        (0.0, ""),
        (-1.0, ""),
    ],
)
def test_cut_at_word_boundary(fraction: float, kept: str) -> None:
    assert cut_at_word_boundary("one two three", fraction) == kept


# -- tools, hand-offs -----------------------------------------------------------------------


def call_done(name: str | None, item_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "response.function_call_arguments.done", "call_id": "c"}
    if name is not None:
        event["name"] = name
    if item_id is not None:
        event["item_id"] = item_id
    return event


def test_tools_are_unique_in_order_of_first_use_and_exclude_handoffs() -> None:
    tracker = ConversationTracker(initial_agent="triage")
    for name in ("lookup_order", "transfer_to_sales", "refund", "lookup_order", "transfer_to_"):
        tracker.observe_upstream(call_done(name), 1.0)
    tracker.observe_handoff("sales", 1.1)  # the relay performing that same hand-off
    tracker.observe_handoff("support", 1.2)
    record = tracker.record()
    assert record.tools_called == ("lookup_order", "refund")
    assert record.agents_used == ("triage", "sales", "support")
    assert record.initial_agent == "triage"


def test_a_handoff_is_recorded_only_when_performed() -> None:
    tracker = ConversationTracker(initial_agent="root")
    tracker.observe_upstream(call_done("transfer_to_nowhere"), 1.0)  # refused by the relay
    assert tracker.record().agents_used == ("root",)
    tracker.observe_upstream(call_done("transfer_to_sales"), 2.0)
    assert tracker.record().agents_used == ("root",)
    tracker.observe_handoff("sales", 2.1)
    assert tracker.record().agents_used == ("root", "sales")


def test_function_name_announced_after_the_arguments_are_done() -> None:
    tracker = ConversationTracker()
    tracker.observe_upstream(call_done(None, item_id="f1"), 1.0)
    assert tracker.record().tools_called == ()
    item = {"id": "f1", "type": "function_call", "name": "lookup_order", "call_id": "c"}
    tracker.observe_upstream({"type": "response.output_item.done", "item": item}, 1.1)
    assert tracker.record().tools_called == ("lookup_order",)
    assert tracker.record().messages == ()


def test_a_phone_call_s_audio_is_measured_at_its_own_rate() -> None:
    # One second of G.711 (8,000 bytes) is a sixth of the base64 of one second of PCM16.
    phone = ConversationTracker(audio_bytes_per_second=8_000)
    phone.observe_upstream(added("a1", None, role="assistant"), 10.0)
    phone.observe_audio_delta("a1", ONE_SECOND // 6, 10.0)
    phone.observe_upstream(said("a1", "one two three four"), 10.0)
    speech(phone, 10.9)  # still playing: the second lasts until 11.0
    truncate(phone, 500)  # half of it heard
    [message] = phone.record().messages
    assert (message.message, message.interrupted) == ("one two", True)
    # The same audio measured as PCM16 would have ended long before.
    browser = ConversationTracker()
    browser.observe_upstream(added("a1", None, role="assistant"), 10.0)
    browser.observe_audio_delta("a1", ONE_SECOND // 6, 10.0)
    browser.observe_upstream(said("a1", "one two three four"), 10.0)
    speech(browser, 10.9)
    assert browser.record().interruptions == 0


# -- revision, caching, logging -------------------------------------------------------------


def test_revision_moves_with_the_record_and_not_with_plain_audio() -> None:
    tracker = ConversationTracker()
    start = tracker.revision
    tracker.observe_upstream(said("a1", "hello world"), 1.0)
    after_text = tracker.revision
    assert after_text > start
    snapshot = tracker.record()
    tracker.observe_audio_delta("a1", ONE_SECOND, 1.0)
    tracker.observe_upstream({"type": "rate_limits.updated", "rate_limits": []}, 1.0)
    assert tracker.revision == after_text
    assert tracker.record() is snapshot  # cached while nothing changed
    truncate(tracker, 500)
    assert tracker.revision > after_text
    assert texts(tracker) == ["hello"]
    before_late_audio = tracker.revision
    tracker.observe_audio_delta("a1", ONE_SECOND, 1.5)  # the heard share is now a quarter
    assert tracker.revision > before_late_audio
    assert texts(tracker) == [""]
    assert tracker.record().messages[0].said == "hello world"


def test_every_record_change_moves_the_revision() -> None:
    # Replay each recording; wherever the revision stood still, a tracker built afresh from the
    # same prefix (so without any cached record) must agree with the previous record.
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        events = load(path)
        tracker = ConversationTracker()
        previous_record, previous_revision = tracker.record(), tracker.revision
        for seen, recorded in enumerate(events, start=1):
            replay(tracker, [recorded])
            fresh = ConversationTracker()
            replay(fresh, events[:seen])
            if tracker.revision == previous_revision:
                assert fresh.record() == previous_record, f"{path.name}:{seen}"
            previous_record, previous_revision = fresh.record(), tracker.revision


def test_logs_tracked_messages_and_interruptions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="app.record.tracker")
    replayed("truncate", Dialect.GA)
    lines = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert (logging.DEBUG, "Tracked user message: Has my order shipped yet?") in lines
    assert (logging.INFO, "Interruption detected for item item_A1") in lines
    assert sum(1 for _, text in lines if text.startswith("Interruption")) == 1


def test_tracker_is_sans_io() -> None:
    banned = {"trio", "quart", "quart_trio", "hypercorn", "azure", "trio_websocket", "asyncio"}
    package = REPO_ROOT / "app" / "record" / "tracker"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not {module.split(".")[0] for module in modules} & banned, source.name


# -- malformed input ------------------------------------------------------------------------

JUNK: list[Any] = [
    None, True, False, 0, -1, 3, 2**70, 10**400, 0.5, -2.5, float("nan"), float("inf"),
    "", "a1", "item_A1", "transfer_to_", [], [None], {}, {"type": 3}, ("t",), b"bytes",
]  # fmt: skip
EVENT_TYPES = TRACKED_EVENT_TYPES
KEYS = [
    "item_id", "previous_item_id", "delta", "transcript", "text", "content_index",
    "audio_end_ms", "name", "call_id", "arguments", "item",
]  # fmt: skip


def junk(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 2 and roll < 0.15:
        item = {
            "id": rng.choice(["a1", "u1", "f1", "", 7]),
            "type": rng.choice(["message", "function_call", None, 1]),
            "role": rng.choice(["user", "assistant", "system", None, []]),
            "name": rng.choice(["lookup_order", "transfer_to_sales", None, 3]),
            "content": [junk(rng, depth + 1) for _ in range(rng.randint(0, 2))],
        }
        return {key: value for key, value in item.items() if rng.random() < 0.8}
    if depth < 2 and roll < 0.25:
        content = {"type": rng.choice(["input_text", "input_audio", 5]), "text": junk(rng, 2)}
        return content | {"transcript": junk(rng, 2)}
    return rng.choice(JUNK)


def check_sane(record: ConversationRecord) -> None:
    assert record.interruptions >= 0
    for message in record.messages:
        assert message.sender in ("user", "assistant")
        assert isinstance(message.message, str) and message.message.strip() == message.message
        assert message.message or message.said


def test_random_events_never_raise() -> None:
    rng = random.Random(20261125)
    tracker = ConversationTracker()
    for step in range(5_000):
        event: Any = {key: junk(rng) for key in rng.sample(KEYS, rng.randint(0, len(KEYS)))}
        roll = rng.random()
        if roll < 0.85:
            event["type"] = rng.choice(EVENT_TYPES)
        elif roll < 0.9:
            event["type"] = junk(rng)
        elif roll < 0.95:
            event = junk(rng)  # not even an object
        at = rng.choice([float(step), float("nan"), -1.0])
        if rng.random() < 0.5:
            tracker.observe_upstream(event, at)
        else:
            tracker.observe_client(event, at)
        if step % 500 == 0:
            check_sane(tracker.record())
    tracker.observe_handoff(None, 1.0)  # type: ignore[arg-type]
    tracker.observe_handoff("", 1.0)
    check_sane(tracker.record())
    assert tracker.record().agents_used[0] == "root"


@pytest.mark.parametrize("seed", range(4))
def test_damaged_recordings_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        events = load(path)
        tracker = ConversationTracker()
        for recorded in events:
            event = copy.deepcopy(recorded.event)
            target = event
            if isinstance(event.get("item"), dict) and rng.random() < 0.5:
                target = event["item"]
            if target and rng.random() < 0.7:
                key = rng.choice(sorted(target))
                if rng.random() < 0.3:
                    del target[key]
                else:
                    target[key] = junk(rng)
            replay(tracker, [attrs.evolve(recorded, event=event)])
        check_sane(tracker.record())
