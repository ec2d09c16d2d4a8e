"""Replace card numbers, e-mail addresses, phone numbers and IBANs in a transcript by markers.

`redact` is a pure function (text in, `Redaction` out) applied to every message text that leaves
a call: the stored document, the spool and checkpoints, the live board, the export.  The relay
never applies it to what it forwards, so the model still hears and reads the caller unchanged.

What it finds, written the way speech recognisers write it:

* ``[card]``: 13-19 digits passing the Luhn check, together or split by single spaces or dashes
  (``4111 1111 1111 1111``, ``4111-1111-1111-1111``, ``4 1 1 1 ...``).
* ``[iban]``: country code, check digits and account, passing the mod-97 check, together or in
  groups (``GB82 WEST 1234 5698 7654 32``), or spelled out in capitals (``G B 8 2 W E S T ...``).
* ``[email]``: written addresses (``john.smith@example.com``), and spoken ones ending in a
  common top-level domain (``john dot smith at example dot com``).  A spoken address whose
  local part is one plain word (``look at amazon dot com``) only counts when its domain is a
  mail provider or the message speaks of an e-mail or address.
* ``[phone]``: 7-17 digits split by spaces, dashes, dots or an area code's parentheses
  (``+44 20 7946 0958``, ``(555) 123-4567``, ``0 7 7 0 0 9 0 0 1 2 3``), checked against the
  numbering plans by :func:`app.pii_checks.is_phone_number`.

Kept as they are: shorter numbers (order numbers such as ``4512``, years, times, amounts such as
``$1,250.00``), numbers in words (``four one one one``), and addresses spelled letter by letter.

Cost: a message without a digit and without ``@`` / `` at `` / `` dot `` costs one scan; see
``bench/redaction_bench.py`` for figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

import attrs

from app.pii_checks import (
    CARD_DIGITS,
    IBAN_LENGTH,
    PHONE_DIGITS,
    is_card_number,
    is_iban,
    is_phone_number,
)

KINDS: Final = ("card", "email", "phone", "iban")
MARKERS: Final = {kind: f"[{kind}]" for kind in KINDS}

#: Bounds the phone checks for one run of digits (each costs tens of µs), so a long recited
#: digit string cannot make a message expensive; a run that long is rare in speech.
MAX_PHONE_CHECKS_PER_RUN: Final = 24


@attrs.frozen
class Redaction:
    """A redacted text and how many of each kind (`KINDS`, all present) were replaced."""

    text: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def redact(text: str) -> Redaction:
    """``text`` with every card number, e-mail address, phone number and IBAN replaced."""
    counts = dict.fromkeys(KINDS, 0)
    if _EMAIL_HINT.search(text):
        text = _redact_emails(text, counts)
    if _DIGIT.search(text):
        text = _redact_ibans(text, counts)
        text = _redact_digit_runs(text, counts, _CARD_RUN, _card_spans, "card")
        text = _redact_digit_runs(text, counts, _PHONE_RUN, _phone_spans, "phone")
    return Redaction(text=text, counts=MappingProxyType(counts))


# -- e-mail addresses -------------------------------------------------------------------------

_EMAIL_HINT: Final = re.compile(r"@| at | dot ", re.IGNORECASE)
_WRITTEN_EMAIL: Final = re.compile(
    r"[A-Za-z0-9._%+\-]+ ?@ ?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
_TLDS: Final = (
    "com|net|org|edu|gov|mil|int|info|biz|io|co|ai|app|dev|me|tv|eu|uk|us|ca|au|nz|ie|de|fr|"
    "es|it|nl|be|ch|at|se|no|dk|fi|pl|pt|cz|in|jp|cn|br|mx|ru|za"
)
_LOCAL_SEPARATOR: Final = r"(?: dot | underscore | dash | hyphen |[._\-])"
_SPOKEN_EMAIL: Final = re.compile(
    rf"\b(?P<local>[a-z0-9%+]+(?:{_LOCAL_SEPARATOR}[a-z0-9%+]+)*)"
    r"(?: at | ?@ ?)"
    r"(?P<domain>[a-z0-9\-]+)(?:(?: dot |\.)[a-z0-9\-]+)*"
    rf"(?: dot |\.)(?:{_TLDS})\b",
    re.IGNORECASE,
)
_MAIL_PROVIDERS: Final = frozenset(
    {"gmail", "googlemail", "hotmail", "outlook", "live", "msn", "yahoo", "icloud", "me", "aol"}
    | {"protonmail", "proton", "gmx"}
)
_EMAIL_CUE: Final = re.compile(r"\b(?:e-?mail|mail|address)\b", re.IGNORECASE)
_PLAIN_WORD: Final = re.compile(r"[a-z]+", re.IGNORECASE)


def _redact_emails(text: str, counts: dict[str, int]) -> str:
    text = _replace(_WRITTEN_EMAIL, text, counts, "email")
    cued = _EMAIL_CUE.search(text) is not None

    def spoken(match: re.Match[str]) -> bool:
        return (
            cued
            or _PLAIN_WORD.fullmatch(match["local"]) is None
            or match["domain"].lower() in _MAIL_PROVIDERS
        )

    return _replace(_SPOKEN_EMAIL, text, counts, "email", accept=spoken)


def _replace(
    pattern: re.Pattern[str],
    text: str,
    counts: dict[str, int],
    kind: str,
    accept: Callable[[re.Match[str]], bool] | None = None,
) -> str:
    def replacement(match: re.Match[str]) -> str:
        if accept is not None and not accept(match):
            return match.group()
        counts[kind] += 1
        return MARKERS[kind]

    return pattern.sub(replacement, text)


# -- IBANs ------------------------------------------------------------------------------------

_DIGIT: Final = re.compile(r"\d")
# A country code (capitals, or lower case written together with the check digits, so that
# "is 41..." is never a start), two check digits, then enough characters for the shortest IBAN.
_IBAN_CANDIDATE: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Z]{2}[ -]?|[a-z]{2}|[A-Z] [A-Z] )\d[ -]?\d(?:[ -]?[A-Za-z0-9]){11,40}"
)
_TOKEN: Final = re.compile(r"[A-Za-z0-9]+")


def _redact_ibans(text: str, counts: dict[str, int]) -> str:
    parts: list[str] = []
    done = 0
    position = 0
    while (match := _IBAN_CANDIDATE.search(text, position)) is not None:
        end = _iban_end(match)
        if end is None:
            position = match.start() + 1
            continue
        parts += (text[done : match.start()], MARKERS["iban"])
        counts["iban"] += 1
        done = position = end
    return "".join(parts) + text[done:] if parts else text


def _iban_end(match: re.Match[str]) -> int | None:
    """Where the longest IBAN at the start of ``match`` ends (trailing words are not part)."""
    written = match.group()
    # Recognisers write an IBAN in one case: a word in the other case is not part of it.
    other_case = str.islower if written[0].isupper() else str.isupper
    compact = ""
    ends: list[tuple[str, int]] = []
    for token in _TOKEN.finditer(written):
        if any(other_case(char) for char in token.group()):
            break
        compact += token.group().upper()
        if len(compact) > IBAN_LENGTH.stop:
            break
        ends.append((compact, token.end()))
    for candidate, end in reversed(ends):
        if is_iban(candidate):
            return match.start() + end
    return None


# -- cards and phone numbers: runs of digits ----------------------------------------------------

_CARD_RUN: Final = re.compile(r"(?<!\d)\d(?:[ -]?\d)*+")
_PHONE_RUN: Final = re.compile(r"(?<![\d+])(?:\+ ?)?\(?\d(?:(?:[ .\-]|\)[ \-]?| ?\()?\d)*+")
_DIGITS: Final = re.compile(r"\d+")

#: Finds the (start, end) spans to redact in one run of digits, relative to the run.
SpanFinder = Callable[[str], list[tuple[int, int]]]


def _redact_digit_runs(
    text: str, counts: dict[str, int], run: re.Pattern[str], spans: SpanFinder, kind: str
) -> str:
    def replacement(match: re.Match[str]) -> str:
        written = match.group()
        found = spans(written)
        if not found:
            return written
        counts[kind] += len(found)
        pieces: list[str] = []
        done = 0
        for start, end in found:
            pieces += (written[done:start], MARKERS[kind])
            done = end
        return "".join(pieces) + written[done:]

    return run.sub(replacement, text)


def _card_spans(run: str) -> list[tuple[int, int]]:
    groups = list(_DIGITS.finditer(run))
    if sum(len(g.group()) for g in groups) < CARD_DIGITS.start:
        return []

    def check(first: int, last: int, digits: str) -> bool:
        return is_card_number(digits)

    return _spans(run, groups, CARD_DIGITS, check, anywhere=True)


def _phone_spans(run: str) -> list[tuple[int, int]]:
    groups = list(_DIGITS.finditer(run))
    if sum(len(g.group()) for g in groups) < PHONE_DIGITS.start:
        return []
    budget = MAX_PHONE_CHECKS_PER_RUN

    def check(first: int, last: int, digits: str) -> bool:
        nonlocal budget
        if budget <= 0:
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
) -> list[tuple[int, int]]:
    """Left to right, the longest spans of whole digit groups of ``lengths`` digits that pass.

    A span starting at the run's first group takes the run's opening ``+`` or ``(`` with it;
    a later one takes an opening ``(`` just before it.  Unless ``anywhere``, a span only starts
    where the run or the previous span ends (a phone number is not searched for inside a longer
    number, where its shorter lengths would match by chance).
    """
    found: list[tuple[int, int]] = []
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
