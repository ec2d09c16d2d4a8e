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
  numbering plans by :func:`app.record.pii_checks.is_phone_number`.

Kept as they are: shorter numbers (order numbers such as ``4512``, years, times, amounts such as
``$1,250.00``), dates, numbers in words (``four one one one``), digits other than ASCII ``0-9``,
and addresses spelled letter by letter.

Cost: a message without ``@``, `` at `` or enough digits costs a few substring tests (about
2 µs for a typical turn); the regular expressions and checks run only where they can match.
``bench/redaction_bench.py`` prints the figures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

import attrs

from app.record.pii_checks import CARD_DIGITS, IBAN_LENGTH, IBAN_MIN_DIGITS, PHONE_DIGITS, is_iban
from app.record.pii_runs import CARD_RUN, PHONE_RUN, card_spans, phone_spans

KINDS: Final = ("card", "email", "phone", "iban")
MARKERS: Final = {kind: f"[{kind}]" for kind in KINDS}


@attrs.frozen
class Redaction:
    """A redacted text and how many of each kind (`KINDS`, all present) were replaced."""

    text: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@attrs.frozen
class Redacted:
    """A log argument whose text is redacted when (and only if) the log line is written."""

    text: str

    def __str__(self) -> str:
        return redact(self.text).text


def redacted_text(text: str) -> str:
    """Just the redacted text (the live board's scrub; it shows markers, it counts nothing)."""
    return redact(text).text


def redact(text: str) -> Redaction:
    """``text`` with every card number, e-mail address, phone number and IBAN replaced."""
    counts = dict.fromkeys(KINDS, 0)
    # Substring tests run at C speed: most messages have no digit and no address, and a regex
    # scan of a long message costs tens of µs.
    if "@" in text:
        text = _replace(_WRITTEN_EMAIL, text, counts, "email")
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters lengthen: keep the offsets
        lowered = text.translate(_ASCII_LOWER)
    if " at " in lowered:
        text = _redact_spoken_emails(text, lowered, counts)
    digits = sum(text.count(digit) for digit in "0123456789")
    if digits >= IBAN_MIN_DIGITS:
        text = _redact_ibans(text, counts)
    if digits >= CARD_DIGITS.start:
        text = _redact_digit_runs(text, counts, CARD_RUN, card_spans, "card")
    if digits >= PHONE_DIGITS.start:
        text = _redact_digit_runs(text, counts, PHONE_RUN, phone_spans, "phone")
    return Redaction(text=text, counts=MappingProxyType(counts))


# -- e-mail addresses -------------------------------------------------------------------------

_WRITTEN_EMAIL: Final = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]++ ?@ ?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
    r"\.[A-Za-z]{2,}",
    re.ASCII,
)
_TLDS: Final = (
    "com|net|org|edu|gov|mil|int|info|biz|io|co|ai|app|dev|me|tv|eu|uk|us|ca|au|nz|ie|de|fr|"
    "es|it|nl|be|ch|at|se|no|dk|fi|pl|pt|cz|in|jp|cn|br|mx|ru|za"
)
# A spoken address is found from its " at ", matched on the lower-cased text: the domain
# forwards, the local part backwards (on the reversed text before " at "), so that the scan
# starts at a literal and costs next to nothing on a message without one.
_SPOKEN_DOMAIN: Final = re.compile(
    rf" at (?P<domain>[a-z0-9\-]+)(?:(?: dot |\.)[a-z0-9\-]+)*(?: dot |\.)(?:{_TLDS})\b",
    re.ASCII,
)
_LOCAL_PART_REVERSED: Final = re.compile(
    r"[a-z0-9%+]++(?:(?: tod | erocsrednu | hsad | nehpyh |[._\-])[a-z0-9%+]++)*+", re.ASCII
)
_LONGEST_LOCAL_PART: Final = 64
_MAIL_PROVIDERS: Final = frozenset(
    {"gmail", "googlemail", "hotmail", "outlook", "live", "msn", "yahoo", "icloud", "me", "aol"}
    | {"protonmail", "proton", "gmx"}
)
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_EMAIL_CUE: Final = re.compile(r"\b(?:e-?mail|mail|address)\b")


def _redact_spoken_emails(text: str, lowered: str, counts: dict[str, int]) -> str:
    """``john dot smith at example dot com``; ``lowered`` is ``text`` in lower case."""
    found: list[tuple[int, int]] = []
    cued: bool | None = None
    for match in _SPOKEN_DOMAIN.finditer(lowered):
        before = lowered[max(0, match.start() - _LONGEST_LOCAL_PART) : match.start()]
        local = _LOCAL_PART_REVERSED.match(before[::-1])
        if local is None:
            continue
        start = match.start() - local.end()
        if found and start < found[-1][1]:
            continue
        plain_word = local.group().isalpha()
        if plain_word and match["domain"] not in _MAIL_PROVIDERS:
            # "look at amazon dot com": only an address when the message speaks of one.
            if cued is None:
                cued = _EMAIL_CUE.search(lowered) is not None
            if not cued:
                continue
        found.append((start, match.end()))
    return _substitute(text, found, counts, "email")


def _substitute(text: str, spans: list[tuple[int, int]], counts: dict[str, int], kind: str) -> str:
    """``text`` with each of the ordered, disjoint ``spans`` replaced by ``kind``'s marker."""
    if not spans:
        return text
    counts[kind] += len(spans)
    pieces: list[str] = []
    done = 0
    for start, end in spans:
        pieces += (text[done:start], MARKERS[kind])
        done = end
    return "".join(pieces) + text[done:]


def _replace(pattern: re.Pattern[str], text: str, counts: dict[str, int], kind: str) -> str:
    def replacement(match: re.Match[str]) -> str:
        counts[kind] += 1
        return MARKERS[kind]

    return pattern.sub(replacement, text)


# -- IBANs ------------------------------------------------------------------------------------

# A country code (capitals, or lower case written together with the check digits, so that
# "is 41..." is never a start), two check digits, then enough characters for the shortest IBAN.
_IBAN_CANDIDATE: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Z]{2}[ -]?|[a-z]{2}|[A-Z] [A-Z] )[0-9][ -]?[0-9]"
    r"(?:[ -]?[A-Za-z0-9]){11,40}",
    re.ASCII,
)
# Where to try it: the first check digit, after its country code (the scan starts at a digit).
_IBAN_CHECK_DIGIT: Final = re.compile(
    r"[0-9](?:(?<=[A-Za-z]{2}[0-9])|(?<=[A-Z]{2}[ -][0-9])|(?<=[A-Z] [A-Z] [0-9]))", re.ASCII
)
_COUNTRY_CODE_WIDTHS: Final = (2, 3, 4)  # "GB82", "GB 82", "G B 8 2"
_TOKEN: Final = re.compile(r"[A-Za-z0-9]+", re.ASCII)


def _redact_ibans(text: str, counts: dict[str, int]) -> str:
    found: list[tuple[int, int]] = []
    for check_digit in _IBAN_CHECK_DIGIT.finditer(text):
        if found and check_digit.start() < found[-1][1]:
            continue
        for width in _COUNTRY_CODE_WIDTHS:
            if check_digit.start() < width:
                break
            match = _IBAN_CANDIDATE.match(text, check_digit.start() - width)
            end = None if match is None else _iban_end(match)
            if match is not None and end is not None:
                found.append((match.start(), end))
                break
    return _substitute(text, found, counts, "iban")


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


# -- cards and phone numbers: runs of digits (see app.record.pii_runs) ----------------------

_MIN_DIGITS: Final = {"card": CARD_DIGITS.start, "phone": PHONE_DIGITS.start}
#: Finds the (start, end) spans to redact in one run of digits, relative to the run.
SpanFinder = Callable[[str], list[tuple[int, int]]]


def _redact_digit_runs(
    text: str, counts: dict[str, int], run: re.Pattern[str], spans: SpanFinder, kind: str
) -> str:
    shortest = _MIN_DIGITS[kind]

    def replacement(match: re.Match[str]) -> str:
        written = match.group()
        if len(written) < shortest:  # most runs: a year, an amount, an order number
            return written
        return _substitute(written, spans(written), counts, kind)

    return run.sub(replacement, text)
