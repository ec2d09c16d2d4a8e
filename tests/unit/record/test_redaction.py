"""`app.record.redaction.redact` on real-looking transcripts: what is replaced, and what must
stay."""

from __future__ import annotations

import attrs
import pytest

from app.record.pii_checks import is_card_number, is_iban, is_phone_number, luhn_valid
from app.record.redaction import KINDS, Redaction, redact

# (transcript as a speech recogniser writes it, expected output)
TRANSCRIPTS = [
    # cards
    ("My card number is 4111 1111 1111 1111.", "My card number is [card]."),
    ("It's 4111-1111-1111-1111, expiry 12/27.", "It's [card], expiry 12/27."),
    ("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "[card]"),
    (
        "the long number is 5555555555554444 and the code is 123",
        "the long number is [card] and the code is 123",
    ),
    ("amex 3782 822463 10005 please", "amex [card] please"),
    ("4111 1111 1111 1111 123", "[card] 123"),  # the security code said straight after
    ("press 1 4111 1111 1111 1111", "press 1 [card]"),
    ("card 4111 1111 1111 1112 was declined", "card 4111 1111 1111 1112 was declined"),
    # e-mail addresses
    ("You can reach me at john.smith@example.com.", "You can reach me at [email]."),
    ("it's john dot smith at example dot com", "it's [email]"),
    ("my email is jsmith at example dot co dot uk thanks", "my email is [email] thanks"),
    ("send it to jane_doe85 at outlook dot com", "send it to [email]"),
    ("Mary at gmail dot com", "[email]"),
    ("J.Smith @ Example.org is the address", "[email] is the address"),
    # phone numbers
    ("Call me on +44 20 7946 0958.", "Call me on [phone]."),
    ("my number is 0 7 7 0 0 9 0 0 1 2 3", "my number is [phone]"),
    ("It's (555) 123-4567, or 555.123.4567 at work.", "It's [phone], or [phone] at work."),
    ("+1 (202) 555-0143", "[phone]"),
    ("dial 00 44 20 7946 0958 from abroad", "dial [phone] from abroad"),
    ("ring 020 7946 0958 ext 12", "ring [phone] ext 12"),
    ("call me on 07700 900123 2 times", "call me on [phone] 2 times"),
    # IBANs
    ("My IBAN is GB82 WEST 1234 5698 7654 32, thanks.", "My IBAN is [iban], thanks."),
    ("DE89 3704 0044 0532 0130 00", "[iban]"),
    ("account gb82west12345698765432 please", "account [iban] please"),
    ("G B 8 2 W E S T 1 2 3 4 5 6 9 8 7 6 5 4 3 2", "[iban]"),
    # several at once
    (
        "Card 4111 1111 1111 1111, mail anna@example.net, phone +44 20 7946 0958.",
        "Card [card], mail [email], phone [phone].",
    ),
]

# Speech that looks a little like the kinds above but holds none of them: kept as it is.
KEPT = [
    "Your order 4512 is shipped and arrives Tuesday.",
    "I have checked order 4512 for you.",
    "It was delivered on 2024-05-12 at 10:30.",
    "The total was $1,250.00 including tax.",
    "The date is 12.05.2024 and the time is 14:45.",
    "Back in 2019, and again from 2019-2024.",
    "It costs 1 250 000 dollars.",
    "reference 12345678, code 1234567",
    "I looked at amazon dot com yesterday.",
    "Meet me at the station dot",
    "The server is at 192.168.100.200.",
    "my card is IS 123",
    "Is 4512 right?",
    "",
]


@pytest.mark.parametrize(("transcript", "expected"), TRANSCRIPTS)
def test_transcripts_are_redacted(transcript: str, expected: str) -> None:
    result = redact(transcript)
    assert result.text == expected
    for kind in KINDS:
        assert result.counts[kind] == expected.count(f"[{kind}]"), kind


@pytest.mark.parametrize("transcript", KEPT)
def test_look_alikes_are_kept(transcript: str) -> None:
    result = redact(transcript)
    assert result.text == transcript
    assert result.total == 0


def test_counts_name_every_kind_and_the_result_is_frozen() -> None:
    result = redact("card 4111111111111111 and 5555 5555 5555 4444, mail a@b.io")
    assert dict(result.counts) == {"card": 2, "email": 1, "phone": 0, "iban": 0}
    assert result.total == 3
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.text = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.counts["card"] = 0  # type: ignore[index]
    assert isinstance(result, Redaction)


def test_spoken_address_with_a_plain_local_part_needs_a_cue() -> None:
    assert redact("I was looking at shop dot com").total == 0
    assert redact("my e-mail is robin at shop dot com").text == "my e-mail is [email]"


def test_luhn_reference_values() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert is_card_number("4111111111111111")
    assert not is_card_number("4111111111111112")
    assert not is_card_number("4111111111")  # Luhn-valid but too short for a card


def test_iban_reference_values() -> None:
    assert is_iban("GB82WEST12345698765432")
    assert is_iban("DE89370400440532013000")
    assert not is_iban("GB82WEST12345698765433")
    assert not is_iban("GB82WEST1234")  # too short
    assert not is_iban("82GBWEST12345698765432")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("+44 20 7946 0958", True),
        ("(555) 123-4567", True),
        ("07700 900123", True),
        ("0044 20 7946 0958", True),
        ("+44 20", False),
        ("1234567", False),  # possible in the UK by length, but not an assigned number
        ("12345678", False),
        ("2024-05-12", False),
    ],
)
def test_phone_number_rules(written: str, expected: bool) -> None:
    assert is_phone_number(written) is expected
