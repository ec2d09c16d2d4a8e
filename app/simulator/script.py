"""The call-center scenario the simulator plays: what the caller says and how the agent answers.

Data only; :mod:`app.simulator.agent` decides which line applies.  The caller's lines are the
transcripts of successive spoken utterances, chosen so that a call walks through every feature
the relay must handle: a spoken reply, a tool call (``lookup_order``), a hand-off
(``transfer_to_sales``) and a goodbye.  After the last line the scenario starts again, so a
benchmark can talk for as long as it likes.
"""

from __future__ import annotations

from typing import Final

#: Transcripts of the caller's spoken utterances, in order.
USER_LINES: Final = (
    "Hi, I need some help, please.",
    "My order number is 4512. Where is it?",
    "Actually I'd like to buy a second one.",
    "Thanks, that's all.",
)

#: The order looked up when the caller mentions an order without saying its number.
DEFAULT_ORDER_ID: Final = "4512"

LOOKUP_ORDER: Final = "lookup_order"
TRANSFER_TO_SALES: Final = "transfer_to_sales"

#: First words of the agent when asked to speak before the caller said anything.
GREETING: Final = "Hello, thanks for calling. How can I help you today?"
#: Answer to a caller asking for help or saying hello.
OFFER_HELP: Final = "Of course, I'm happy to help. What can I do for you today?"
#: Answer to a caller saying goodbye.
GOODBYE: Final = "You're welcome. Thanks for calling, and have a great day!"
#: Answer to anything else.
FALLBACK: Final = (
    "I can help you with your orders and with new purchases. What would you like to do?"
)
#: Answer when asked to speak again although the caller said nothing new.
FOLLOW_UP: Final = "Is there anything else I can help you with?"
#: Answer when asked to speak while a tool call is still unanswered.
HOLD: Final = "One moment while I check that for you."
#: The sales agent's first words after a hand-off.
SALES_INTRO: Final = (
    "Hi, this is sales. I hear you'd like to buy another one. I can set that up for you right away."
)
#: Answer to the output of a tool the scenario does not know.
TOOL_DONE: Final = (
    "Thanks, I have that information now. Is there anything else I can help you with?"
)


def user_line(index: int) -> str:
    """The transcript of the caller's ``index``-th utterance (0-based), cycling."""
    return USER_LINES[index % len(USER_LINES)]


def order_status_reply(order_id: str, status: str, arrival: str | None) -> str:
    """The agent reading out ``lookup_order``'s result."""
    reply = f"Your order {order_id} is {status}"
    if arrival:
        reply += f" and arrives {arrival}"
    return reply + ". Is there anything else I can help you with?"


def order_checked_reply(order_id: str) -> str:
    """The agent after a ``lookup_order`` result it cannot read a status from."""
    return f"I have checked order {order_id} for you. Is there anything else I can help you with?"
