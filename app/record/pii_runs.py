"""Where the card and phone numbers are in one run of digits, as a recogniser writes it.

A run is digits joined by single separators (``4111 1111 1111 1111 123``, ``+44 20 7946 0958``);
the spans found in it are checked by :mod:`app.record.pii_checks`.  Pure functions for
:mod:`app.record.redaction`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from app.record.pii_checks import CARD_DIGITS, PHONE_DIGITS, is_card_number, is_phone_number

#: Digits joined by single spaces or dashes.
CARD_RUN: Final = re.compile(r"[0-9](?<![0-9][0-9])(?:[ -]?[0-9])*+", re.ASCII)
#: Digits joined by spaces, dashes, dots or an area code's parentheses, maybe after a ``+``.
PHONE_RUN: Final = re.compile(
    r"(?<![0-9+])(?:\+ ?)?\(?[0-9](?:(?:[ .\-]|\)[ \-]?| ?\()?[0-9])*+", re.ASCII
)
#: Bounds the phone checks for one run of digits (each costs tens of µs), so a long recited
#: digit string cannot make a message expensive; a run that long is rare in speech.
MAX_PHONE_CHECKS_PER_RUN: Final = 24

_DIGITS: Final = re.compile(r"[0-9]+", re.ASCII)
# Dates are written like phone numbers but never are one: not worth a numbering-plan check.
_DATE: Final = re.compile(
    r"[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2[0-9]{2,4}", re.ASCII
)

Span = tuple[int, int]


def card_spans(run: str) -> list[Span]:
    """The card numbers in a `CARD_RUN`, wherever they start (a run may hold a code after it)."""
    groups = list(_DIGITS.finditer(run))
    if sum(len(g.group()) for g in groups) < CARD_DIGITS.start:
        return []

    def check(first: int, last: int, digits: str) -> bool:
        return is_card_number(digits)

    return _spans(run, groups, CARD_DIGITS, check, anywhere=True)


def phone_spans(run: str) -> list[Span]:
    """The phone numbers in a `PHONE_RUN`, one after another from its start."""
    groups = list(_DIGITS.finditer(run))
    if sum(len(g.group()) for g in groups) < PHONE_DIGITS.start:
        return []
    budget = MAX_PHONE_CHECKS_PER_RUN

    def check(first: int, last: int, digits: str) -> bool:
        nonlocal budget
        if budget <= 0 or _DATE.fullmatch(run, first, last):
            return False
        budget -= 1
        return is_phone_number(run[first:last])

    return _spans(run, groups, PHONE_DIGITS, check, anywhere=False)


def _spans(
    run: str,
    groups: list[re.Match[str]],
    lengths: range,
    check: Callable[[int, int, str], bool],
    *,
    anywhere: bool,
) -> list[Span]:
    """Left to right, the longest spans of whole digit groups of ``lengths`` digits that pass.

    A span starting at the run's first group takes the run's opening ``+`` or ``(`` with it;
    a later one takes an opening ``(`` just before it.  Unless ``anywhere``, a span only starts
    where the run or the previous span ends (a phone number is not searched for inside a longer
    number, where its shorter lengths would match by chance).
    """
    found: list[Span] = []
    index = 0
    while index < len(groups):
        first = groups[index].start()
        if index == 0:
            first = 0
        elif run[first - 1] == "(":
            first -= 1
        prefixes = []
        digits = ""
        for group in groups[index:]:
            digits += group.group()
            if len(digits) >= lengths.stop:
                break
            prefixes.append((digits, group.end()))
        end = next(
            (
                prefix_end
                for prefix, prefix_end in reversed(prefixes)
                if len(prefix) in lengths and check(first, prefix_end, prefix)
            ),
            None,
        )
        if end is None:
            if not anywhere:
                break
            index += 1
            continue
        found.append((first, end))
        while index < len(groups) and groups[index].start() < end:
            index += 1
    return found
