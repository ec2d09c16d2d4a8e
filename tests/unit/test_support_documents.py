"""The documents tests build (tests/support/documents.py) are documents the relay could store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.record.tracker import Sender
from app.rules.reasons import DisconnectReason
from tests.support.commands import DATA_SET
from tests.support.document_checks import check_document
from tests.support.documents import EXCHANGE, conversation, make_document


def test_the_default_document_keeps_every_invariant() -> None:
    document = make_document()
    check_document(document)
    assert [m["message"] for m in document["messages"]] == [text for _, text in EXCHANGE]
    assert document["customer_id"] == "cust-1"


def test_a_busy_call_keeps_every_invariant() -> None:
    said: list[tuple[Sender, str]] = [
        ("user", "hi"),
        ("assistant", "one"),
        ("assistant", "two"),
        ("user", "bye"),
    ]
    record = conversation(said, interrupted=2, tools=("lookup_order",), agents=("root", "sales"))
    document = make_document(
        "cust-2",
        session_id="busy",
        record=record,
        duration=timedelta(seconds=95),
        reason=DisconnectReason.IDLE_TIMEOUT,
    )
    check_document(document)
    assert document["metadata"]["interruptions"] == 2
    assert [m["interrupted"] for m in document["messages"]] == [False, True, True, False]
    assert document["graceful_disconnect"] is False


def test_more_interruptions_than_answers_is_refused() -> None:
    with pytest.raises(AssertionError, match="more interruptions"):
        conversation([("user", "hi"), ("assistant", "one")], interrupted=2)


@pytest.mark.parametrize("document", DATA_SET, ids=lambda doc: doc["conversation_id"])
def test_the_command_tests_data_set_keeps_every_invariant(document: dict[str, Any]) -> None:
    check_document(document)
