"""Short-lived signed links to one recording, for the ``<audio>`` element on ``/admin``.

Why: the admin page sends ``Authorization: Bearer <ADMIN_TOKEN>`` with its fetches, but an
``<audio src>`` cannot send headers.  Fetching the whole file into a ``blob:`` URL would work but
holds the whole call in the page's memory and makes the operator wait for the download before
the first second plays.  So the page asks the admin API (with its bearer header) for a link, and
the player then fetches that link itself, with the range requests it needs to start at once and
to seek.

A link names one recording (its customer and document id) and an expiry time, signed with
HMAC-SHA256 under a key derived from ``ADMIN_TOKEN``: every worker and replica that shares the
token checks the same links with no state shared, and changing the token revokes every link.
It grants reading that one recording until it expires (`LINK_SECONDS`), nothing else.

Pure: values in (the key, the names, the time as a number), values out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["LINK_SECONDS", "link_key", "link_valid", "sign_link"]

#: How long a link is good for: long enough to listen to a call with pauses and seeks (each
#: seek is a new request); the page asks for a fresh link when the player is refused.
LINK_SECONDS = 3600
_PURPOSE = b"voice-relay recording link v1"
#: Signatures are base64url of the 32-byte HMAC, without padding: 43 characters.
_SIGNATURE_LENGTH = 43


def link_key(admin_token: str) -> bytes:
    """The signing key for links, derived from the admin token (never the token itself)."""
    return hmac.new(admin_token.encode(), _PURPOSE, hashlib.sha256).digest()


def sign_link(key: bytes, customer_id: str, doc_id: str, expires: int) -> str:
    """The signature of a link to ``customer_id``/``doc_id`` valid until ``expires`` (epoch s)."""
    message = f"{expires}\n{customer_id}\n{doc_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_valid(
    key: bytes,
    customer_id: str,
    doc_id: str,
    expires: str | None,
    signature: str | None,
    now: float,
) -> bool:
    """Whether query parameters ``expires`` and ``signature`` grant this recording at ``now``."""
    if not expires or not signature or not expires.isdigit() or len(expires) > 12:
        return False
    if len(signature) != _SIGNATURE_LENGTH or int(expires) < now:
        return False
    wanted = sign_link(key, customer_id, doc_id, int(expires))
    return hmac.compare_digest(wanted.encode(), signature.encode())
