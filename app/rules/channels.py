"""Which kind of client a call came through: the vocabulary of the document's ``channel``.

A browser on ``/api/realtime`` is ``web``; a phone caller is ``acs`` or ``twilio`` after the
provider that carried the call (`app.phone`).  It lives with the rules, like the disconnect
reasons, so that the record (which stores it) and the phone dialects (which name it) share it
without importing each other.
"""

from __future__ import annotations

import enum


class Channel(enum.StrEnum):
    """How the caller reached the relay, as stored in ``channel``."""

    WEB = "web"
    ACS = "acs"
    TWILIO = "twilio"
