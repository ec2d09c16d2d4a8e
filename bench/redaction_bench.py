"""What PII redaction costs per message, and per document built at a checkpoint or the final save.

    .venv/bin/python bench/redaction_bench.py [--repeat 7] [--number 2000]

Times `app.record.redaction.redact` on transcript messages of typical lengths, with and without
something to redact, and `build_document` on a 200-message conversation with redaction off and
on.  Prints the median and the best of ``--repeat`` runs of ``--number`` calls each, in µs per
message (or ms per document).  Redaction never runs on the audio path: only when a document is
built (every CHECKPOINT_INTERVAL and once at the end of a call).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.record.document import build_document
from app.record.redaction import redact
from app.record.tracker import ConversationRecord, Message
from app.rules.reasons import DisconnectReason

MESSAGES = {
    "short, no digits (30 chars)": "Yes, that's right, thank you.",
    "typical user turn (120 chars)": (
        "Hi, I'm calling because my parcel still hasn't arrived and I wanted to know whether "
        "you could check what happened to it."
    ),
    "with harmless numbers (110 chars)": (
        "Your order 4512 was shipped on 2024-05-12 at 10:30 and the total was $1,250.00, "
        "arriving by Friday."
    ),
    "with a card number (70 chars)": (
        "Sure, my card number is 4111 1111 1111 1111 and it expires 12/27."
    ),
    "with a phone and e-mail (95 chars)": (
        "You can call me on +44 20 7946 0958 or write to john dot smith at example dot com."
    ),
    "long assistant turn (600 chars)": (
        "Thank you for waiting. I have looked into your order and I can see that it left our "
        "warehouse on Monday morning. The courier scanned it at their depot on Tuesday, and it "
        "is now out for delivery. You should receive it by the end of the day today. If it does "
        "not arrive, please let me know and I can open an investigation with the courier, or "
        "arrange a replacement to be sent out on our next-day service at no extra cost to you. "
        "Is there anything else I can help you with today, for example changing the delivery "
        "address or the time slot for any of your other open orders with us?"
    ),
}


def per_call_us(function: Callable[[], object], repeat: int, number: int) -> tuple[float, float]:
    runs = timeit.repeat(function, repeat=repeat, number=number)
    per_call = [run / number * 1e6 for run in runs]
    return statistics.median(per_call), min(per_call)


def conversation(messages: int) -> ConversationRecord:
    texts = list(MESSAGES.values())
    return ConversationRecord(
        messages=tuple(
            Message(
                sender="user" if n % 2 == 0 else "assistant",
                message=texts[n % len(texts)],
                interrupted=False,
            )
            for n in range(messages)
        ),
        interruptions=0,
        tools_called=(),
        agents_used=("concierge",),
        initial_agent="concierge",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()

    print(f"redact() per message, {args.repeat} runs of {args.number} calls")
    print(f"{'message':<40} {'median µs':>10} {'best µs':>10}")
    for name, text in MESSAGES.items():
        median, best = per_call_us(partial(redact, text), args.repeat, args.number)
        print(f"{name:<40} {median:>10.1f} {best:>10.1f}")

    record = conversation(200)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    documents = max(1, args.number // 100)
    print(f"\nbuild_document() of 200 messages, {args.repeat} runs of {documents} documents")
    for redact_pii in (False, True):

        def build(redact_pii: bool = redact_pii) -> object:
            return build_document(
                record,
                session_id="bench",
                customer_id="bench",
                start=start,
                end=start + timedelta(minutes=10),
                reason=DisconnectReason.USER_HANGUP,
                redact_pii=redact_pii,
            )

        median, best = per_call_us(build, args.repeat, documents)
        label = "redaction on" if redact_pii else "redaction off"
        print(f"{label:<40} {median / 1000:>9.2f}ms {best / 1000:>9.2f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
