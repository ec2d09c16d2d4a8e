"""Who is calling: the caller's number as the call's ``customer_id``, without storing the number.

A phone number is personal data, and the customer id is stored in every document (it is the
store's partition key).  By default the id is ``tel:`` + a keyed hash of the number
(HMAC-SHA256 keyed with ``CALLER_ID_SECRET``, the first 32 hex digits): the same caller always
gets the same id, so one caller's calls group together, yet the number cannot be read back
without the key.  An operator may choose instead to store the number itself
(``CALLER_ID_MODE=number``: ``tel:+15551234567``) or to map known numbers to their own customer
ids (``CALLER_ID_MAP``, a JSON object file; numbers not in it fall back to the mode).

A caller without a usable number (withheld, a SIP or client identity) is anonymous: ``None``.

No I/O here: the map file is read by the caller of `CallerIds`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
from collections.abc import Mapping

import attrs

__all__ = ["CallerIdMode", "CallerIds", "normalise_number", "read_mapping"]

_NUMBER = re.compile(r"\+?[0-9]{3,15}")
_SEPARATORS = str.maketrans("", "", " -.()")
#: Hex digits of the HMAC kept in the id: 128 bits, collision-free for any call centre.
HASH_DIGITS = 32


class CallerIdMode(enum.StrEnum):
    """How an unmapped number becomes a customer id (``CALLER_ID_MODE``)."""

    HASH = "hash"
    NUMBER = "number"


def normalise_number(raw: str | None) -> str | None:
    """The caller's number as digits with an optional leading ``+``; None if it is none."""
    if raw is None:
        return None
    number = raw.strip().translate(_SEPARATORS)
    if _NUMBER.fullmatch(number) is None:
        return None
    return number


@attrs.frozen
class CallerIds:
    """The customer id of a caller's number, by the operator's policy."""

    secret: bytes | None = attrs.field(repr=False)
    mode: CallerIdMode = CallerIdMode.HASH
    #: Numbers (as `normalise_number` writes them) to customer ids.
    mapping: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.mode is CallerIdMode.HASH and not self.secret:
            raise ValueError("CALLER_ID_SECRET is needed to hash callers' numbers")

    def customer_id(self, raw_number: str | None) -> str | None:
        """The customer id for a caller's number, or None for an anonymous caller."""
        number = normalise_number(raw_number)
        if number is None:
            return None
        mapped = self.mapping.get(number)
        if mapped is not None:
            return mapped
        if self.mode is CallerIdMode.NUMBER:
            return f"tel:{number}"
        assert self.secret is not None
        digest = hmac.new(self.secret, number.encode("ascii"), hashlib.sha256).hexdigest()
        return f"tel:{digest[:HASH_DIGITS]}"


def read_mapping(text: str) -> dict[str, str]:
    """The ``CALLER_ID_MAP`` file's content as a mapping of normalised numbers to ids.

    Raises:
        ValueError: not a JSON object of number strings to non-empty id strings.
    """
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object of phone numbers to customer ids")
    mapping: dict[str, str] = {}
    for key, value in raw.items():
        number = normalise_number(key)
        if number is None:
            raise ValueError(f"{key!r} is not a phone number")
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"the customer id for {key!r} must be a non-empty string")
        mapping[number] = value.strip()
    return mapping
