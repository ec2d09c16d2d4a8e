"""Property tests of the document builder, and the item size rule (:func:`fit_item_limit`).

:func:`check_document` states every invariant a stored conversation keeps; the tracker's
property tests (``tests/unit/record/test_tracker_properties.py``) check it on documents built from
random
event streams, and the tests here on documents built from random records, at every size.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.record.document import (
    CUT_MARKER,
    build_document,
    encoded_size,
    fit_item_limit,
)
from app.record.tracker import ConversationRecord, Message, Sender
from app.rules.reasons import DisconnectReason
from tests.support.document_checks import check_document

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- random records -------------------------------------------------------------------------

START = datetime(2026, 11, 30, 4, 0, 0, 250_000, tzinfo=UTC)
zones = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.builds(
    lambda seconds, zone: (START + timedelta(seconds=seconds)).astimezone(zone),
    st.floats(-10.0, 4 * 3600.0),
    zones,
)
# Every code point a peer can get through JSON, lone surrogates and NUL included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
message_texts = (
    any_text.map(lambda text: text.strip() or "x")
    | st.sampled_from(["é", "中文", "😀", "\ud800", "a\udc00b"])
    | st.builds(lambda piece, n: (piece * n).strip() or "x", any_text, st.integers(1, 400))
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    senders: list[Sender] = ["user", "assistant"]
    sender = draw(st.sampled_from(senders))
    interrupted = sender == "assistant" and draw(st.booleans())
    return Message(sender=sender, message=draw(message_texts), interrupted=interrupted)


@st.composite
def records(draw: st.DrawFn, max_messages: int = 30) -> ConversationRecord:
    """A record as the tracker makes it (interruptions are the interrupted messages)."""
    said = tuple(draw(st.lists(messages(), max_size=max_messages)))
    names = st.text(min_size=1, max_size=20)
    return ConversationRecord(
        messages=said,
        interruptions=sum(1 for message in said if message.interrupted),
        tools_called=tuple(draw(st.lists(names, unique=True, max_size=3))),
        agents_used=("root", *draw(st.lists(names.filter(lambda n: n != "root"), unique=True))),
        initial_agent="root",
    )


def build(record: ConversationRecord, start: datetime, end: datetime) -> dict[str, Any] | None:
    return build_document(
        record,
        session_id="3f2a9c",
        customer_id="cust-42",
        start=start,
        end=end,
        reason=DisconnectReason.MAX_DURATION,
    )


@PROPERTY_SETTINGS
@given(records(), moments, moments, st.sampled_from(list(DisconnectReason)), st.none() | any_text)
def test_documents_keep_their_invariants(
    record: ConversationRecord,
    start: datetime,
    end: datetime,
    reason: DisconnectReason,
    customer_id: str | None,
) -> None:
    document = build_document(
        record, session_id="s-1", customer_id=customer_id, start=start, end=end, reason=reason
    )
    if not record.messages:
        assert document is None
        return
    assert document is not None
    check_document(document)
    assert fit_item_limit(document) == document  # idempotent


@PROPERTY_SETTINGS
@given(records())
def test_normal_calls_are_untouched(record: ConversationRecord) -> None:
    document = build(record, START, START + timedelta(minutes=5))
    if document is None:
        return
    assert "truncated" not in document  # 30 messages of at most ~25 KB are far from the limit
    stored = [(m["sender"], m["message"], m["interrupted"]) for m in document["messages"]]
    expected = [
        (m.sender, m.message.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace"),
         m.interrupted)
        for m in record.messages
    ]  # fmt: skip
    assert stored == expected


@PROPERTY_SETTINGS
@given(records(max_messages=60), st.integers(0, 30_000), st.integers(8, 2_000))
def test_any_budget_keeps_the_ends_in_order(
    record: ConversationRecord, room: int, max_chars: int
) -> None:
    document = build(record, START, START + timedelta(minutes=5))
    if document is None:
        return
    # The budget leaves ``room`` for messages beside the rest of the document and the marker
    # (a budget smaller than that could only be met by cutting the metadata, which no real
    # call needs: its names come from the agent catalogue).
    budget = encoded_size(document | {"messages": []}) + 200 + room
    fitted = fit_item_limit(document, budget=budget, max_message_chars=max_chars)
    assert encoded_size(fitted) <= budget
    assert fit_item_limit(fitted, budget=budget, max_message_chars=max_chars) == fitted
    assert fitted["metadata"] == document["metadata"]
    event("messages dropped" if fitted.get("truncated", {}).get("messages_dropped") else "none")
    truncated = fitted.get("truncated", {"messages_dropped": 0, "dropped_at": 0})
    capped = [capped_message(message, max_chars) for message in document["messages"]]
    cut_from = truncated["dropped_at"] or 0
    cut_to = cut_from + truncated["messages_dropped"]
    assert fitted["messages"] == capped[:cut_from] + capped[cut_to:]
    if "truncated" not in fitted:
        assert fitted == document
    elif truncated["messages_dropped"]:
        # Only what could not fit was dropped: the dropped message next to the kept end would
        # have gone over (give or take the marker's stand-ins, a few digits longer).
        back = capped[:cut_from] + capped[cut_to - 1 :]
        assert encoded_size(fitted | {"messages": back}) > budget - 10


def capped_message(message: dict[str, Any], max_chars: int) -> dict[str, Any]:
    text = message["message"]
    if len(text) <= max_chars:
        return message
    return message | {"message": text[: max(0, max_chars - len(CUT_MARKER))].rstrip() + CUT_MARKER}
