"""Property tests of `app.record.redaction.redact`: generated card numbers and IBANs, inside
sentences.

No deadline (a shared, loaded machine must not fail a test by being slow) and no example
database on disk: every run draws fresh examples.  ``REDACTION_EXAMPLES=3000`` searches harder.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.record.pii_checks import is_iban, luhn_valid
from app.record.redaction import KINDS, redact

settings.register_profile(
    "redaction",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    max_examples=int(os.environ.get("REDACTION_EXAMPLES", "100")),
)
relaxed = settings.get_profile("redaction")

# Plain words that are no part of a spoken e-mail address ("at", "dot") nor of an IBAN.
WORDS = st.sampled_from(
    [
        *("my", "card", "number", "is", "please", "the", "and", "thanks", "so", "yes", "it"),
        *("was", "that", "one", "again", "here", "you", "go", "okay", "right", "sorry", "me"),
    ]
)
SENTENCE_PART = st.lists(WORDS, min_size=0, max_size=8).map(" ".join)


def luhn_check_digit(payload: str) -> str:
    for digit in "0123456789":
        if luhn_valid(payload + digit):
            return digit
    raise AssertionError("unreachable: one digit always completes a Luhn number")


CARD_PAYLOADS = st.integers(min_value=12, max_value=18).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n).filter(lambda s: s[0] != "0")
)
VALID_CARDS = CARD_PAYLOADS.map(lambda payload: payload + luhn_check_digit(payload))
INVALID_CARDS = VALID_CARDS.flatmap(
    lambda card: st.integers(min_value=1, max_value=9).map(
        lambda bump: card[:-1] + str((int(card[-1]) + bump) % 10)
    )
)


@st.composite
def written(draw: st.DrawFn, digits: str) -> str:
    """The digits as a recogniser might write them: together, in groups, or one by one."""
    style = draw(st.sampled_from(["together", "groups of 4", "groups", "one by one"]))
    separator = draw(st.sampled_from([" ", "-"]))
    if style == "together":
        return digits
    if style == "groups of 4":
        return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))
    if style == "one by one":
        return " ".join(digits)
    groups = []
    rest = digits
    while rest:
        size = draw(st.integers(min_value=1, max_value=6))
        groups.append(rest[:size])
        rest = rest[size:]
    return separator.join(groups)


def in_sentence(value: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(SENTENCE_PART, value, SENTENCE_PART).map(
        lambda parts: (f"{parts[0]} {parts[1]} {parts[2]}".strip(), parts[1])
    )


@relaxed
@given(VALID_CARDS.flatmap(lambda card: in_sentence(written(card))))
def test_a_valid_card_number_is_replaced_wherever_it_is_said(sample: tuple[str, str]) -> None:
    sentence, said = sample
    result = redact(sentence)
    assert result.counts["card"] == 1
    assert result.text == sentence.replace(said, "[card]")
    assert not re.search(r"\d", result.text)


@relaxed
@given(INVALID_CARDS, SENTENCE_PART, SENTENCE_PART, st.sampled_from(["", " ", "-"]))
def test_a_number_failing_luhn_is_not_a_card(
    number: str, before: str, after: str, separator: str
) -> None:
    # Written whole or in groups of 4 with no shorter card-length prefix, so that no part of the
    # number could pass on its own (parts of longer runs are checked too, see the table tests).
    if separator and len(number) == 16:
        number = separator.join(number[i : i + 4] for i in range(0, 16, 4))
    sentence = f"{before} {number} {after}".strip()
    result = redact(sentence)
    assert result.counts["card"] == 0
    if result.total == 0:
        assert result.text == sentence


@relaxed
@given(st.lists(VALID_CARDS, min_size=2, max_size=3), SENTENCE_PART)
def test_each_of_several_cards_is_counted(cards: list[str], filler: str) -> None:
    sentence = f" {filler} and ".join(cards)
    result = redact(sentence)
    assert result.counts["card"] == len(cards)
    assert not re.search(r"\d", result.text)


def iban_for(country: str, bban: str) -> str:
    remainder = int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    return f"{country}{98 - remainder:02d}{bban}"


IBANS = st.builds(
    iban_for,
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    st.tuples(
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=0, max_size=4),
        st.text(alphabet="0123456789", min_size=11, max_size=26),
    ).map("".join),
).filter(lambda iban: len(iban) <= 34)


@relaxed
@given(IBANS.flatmap(lambda iban: in_sentence(st.sampled_from([iban, _grouped(iban)]))))
def test_an_iban_is_replaced_together_or_in_groups(sample: tuple[str, str]) -> None:
    sentence, said = sample
    assert is_iban(said.replace(" ", ""))
    result = redact(sentence)
    assert result.counts["iban"] == 1
    assert result.text == sentence.replace(said, "[iban]")


@relaxed
@given(IBANS, st.integers(min_value=0), st.sampled_from("0123456789"))
def test_a_changed_iban_digit_fails_the_check(iban: str, pick: int, digit: str) -> None:
    # mod-97 catches every single-digit substitution (97 is prime and above 10).
    positions = [i for i, char in enumerate(iban) if i >= 2 and char.isdigit()]
    at = positions[pick % len(positions)]
    changed = iban[:at] + digit + iban[at + 1 :]
    assert is_iban(changed) is (changed == iban)


def _grouped(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@relaxed
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.!?'ABCXYZ", max_size=300))
def test_text_without_digits_or_addresses_is_unchanged(text: str) -> None:
    if " at " in text or " dot " in text:
        return
    result = redact(text)
    assert result.text == text
    assert set(result.counts) == set(KINDS)
    assert result.total == 0


@relaxed
@given(st.text(alphabet="0123456789 -+().@abcdefgxyzGBDE", max_size=120))
def test_redaction_is_idempotent_and_counts_its_markers(text: str) -> None:
    once = redact(text)
    assert redact(once.text).text == once.text
    for kind in KINDS:
        assert once.text.count(f"[{kind}]") == once.counts[kind]
