"""The document builder's redaction step: every message text redacted, the counts recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.record.document import build_document
from app.record.tracker import ConversationRecord, Message
from app.rules.reasons import DisconnectReason

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CARD = "4111 1111 1111 1111"
EMAIL = "john.smith@example.com"
PHONE = "+44 20 7946 0958"

RECORD = ConversationRecord(
    messages=(
        Message(sender="user", message=f"My card is {CARD}.", interrupted=False),
        Message(sender="assistant", message=f"Thanks, I have {CARD} on file.", interrupted=True),
        Message(sender="user", message=f"Mail {EMAIL} or call {PHONE}.", interrupted=False),
        Message(sender="user", message="Where is order 4512?", interrupted=False),
    ),
    interruptions=1,
    tools_called=("lookup_order",),
    agents_used=("concierge",),
    initial_agent="concierge",
)


def build(**overrides: object) -> dict[str, object]:
    document = build_document(
        RECORD,
        session_id="s1",
        customer_id="c1",
        start=START,
        end=START + timedelta(seconds=30),
        reason=DisconnectReason.USER_HANGUP,
        **overrides,  # type: ignore[arg-type]
    )
    assert document is not None
    return document


def test_every_message_is_redacted_and_the_counts_are_summed() -> None:
    document = build()
    assert [m["message"] for m in document["messages"]] == [  # type: ignore[attr-defined]
        "My card is [card].",
        "Thanks, I have [card] on file.",
        "Mail [email] or call [phone].",
        "Where is order 4512?",
    ]
    assert document["redactions"] == {"card": 2, "email": 1, "phone": 1, "iban": 0}
    stored = json.dumps(document)
    for raw in (CARD, EMAIL, PHONE, "4111"):
        assert raw not in stored
    # Everything else is the same document as without redaction.
    plain = build(redact_pii=False)
    assert {k: v for k, v in document.items() if k not in ("messages", "redactions")} == {
        k: v for k, v in plain.items() if k != "messages"
    }


def test_redaction_is_on_unless_turned_off() -> None:
    assert "redactions" in build()
    plain = build(redact_pii=False)
    assert "redactions" not in plain
    assert plain["messages"][0]["message"] == f"My card is {CARD}."  # type: ignore[index]


def test_the_record_itself_is_left_unchanged() -> None:
    build()
    assert RECORD.messages[0].message == f"My card is {CARD}."
