"""The caller's number as a customer id: hashed by default, stored or mapped when configured."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.phone.caller_id import CallerIdMode, CallerIds, normalise_number, read_mapping

SECRET = b"s" * 32


def test_hashed_by_default_stable_and_keyed() -> None:
    ids = CallerIds(SECRET)
    first = ids.customer_id("+15551234567")
    assert first == ids.customer_id(" +1 555-123-4567 ")
    expected = hmac.new(SECRET, b"+15551234567", hashlib.sha256).hexdigest()[:32]
    assert first == f"tel:{expected}"
    assert "5551234567" not in (first or "")
    assert CallerIds(b"t" * 32).customer_id("+15551234567") != first


def test_the_number_itself_when_configured() -> None:
    assert CallerIds(None, CallerIdMode.NUMBER).customer_id("+15551234567") == "tel:+15551234567"


def test_mapped_numbers_get_their_customer_id() -> None:
    ids = CallerIds(SECRET, mapping={"+15551234567": "customer-42"})
    assert ids.customer_id("+1 (555) 123-4567") == "customer-42"
    assert (ids.customer_id("+15550000000") or "").startswith("tel:")


@pytest.mark.parametrize("raw", [None, "", "anonymous", "client:alice", "sip:a@b.c", "+12"])
def test_a_caller_without_a_number_is_anonymous(raw: str | None) -> None:
    assert CallerIds(SECRET).customer_id(raw) is None
    assert normalise_number(raw) is None


def test_hashing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="CALLER_ID_SECRET"):
        CallerIds(None)


def test_the_map_file() -> None:
    assert read_mapping('{"+1 555 123 4567": " c-1 "}') == {"+15551234567": "c-1"}
    for bad, message in [
        ("[]", "JSON object"),
        ("{", "not JSON"),
        ('{"bob": "c"}', "not a phone number"),
        ('{"+15551234567": ""}', "non-empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            read_mapping(bad)
