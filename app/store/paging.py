"""Keyset paging, shared by the stores: the sort key, its continuation token, time bounds.

Listings are ordered newest first by ``(session_start, id, customer_id)``; a page ends at a key,
and the next page starts strictly beyond it.  The continuation token handed to clients is that
key, versioned per store (a token from one back end is refused by the other rather than
misread) and base64url-encoded JSON, so clients treat it as opaque.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import attrs

__all__ = ["SortKey", "TokenCodec", "iso_bound"]

#: ``(session_start, id, customer_id)``: the order of every listing.
SortKey = tuple[str, str, str]


@attrs.frozen
class TokenCodec:
    """Continuation tokens of one store; ``version`` tells its tokens from any other's."""

    version: str | int

    def encode(self, key: SortKey) -> str:
        raw = json.dumps([self.version, *key], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def decode(self, token: str) -> SortKey:
        """The key ``token`` stands for; :class:`ValueError` for a token this store did not
        issue (the admin API answers it with HTTP 400)."""
        invalid = f"invalid continuation token {token!r}: not one this store issued"
        try:
            value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except ValueError as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError
            raise ValueError(invalid) from exc
        if (
            not isinstance(value, list)
            or len(value) != 4
            or value[0] != self.version
            or not all(isinstance(part, str) for part in value[1:])
        ):
            raise ValueError(invalid)
        return value[1], value[2], value[3]


def iso_bound(name: str, value: datetime) -> str:
    """``value`` as the UTC ISO 8601 text that stored ``session_start`` values compare against."""
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC).isoformat()
