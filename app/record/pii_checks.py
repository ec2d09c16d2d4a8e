"""The checks that tell a real card number, IBAN or phone number from any other run of digits.

Pure functions used by :mod:`app.record.redaction`: a candidate found by a pattern is only redacted
when its check passes, which keeps order numbers, amounts, dates and years in the transcript.

* Cards: the Luhn check (ISO/IEC 7812), 13 to 19 digits.
* IBANs: the ISO 13616 mod-97 check, 15 to 34 characters, at least 10 of them digits.
* Phone numbers: Google's libphonenumber rules (the ``phonenumbers`` package), which know every
  country's calling code, international prefix and number lengths.  A number given with ``+``
  or an international prefix must be possible for its country; a national number must be
  possible in one of `NATIONAL_REGIONS`, and a short one (under 10 digits) must also be a
  valid, assigned number there, because 7- and 9-digit runs are often amounts or references.
"""

from __future__ import annotations

from typing import Final

import phonenumbers

CARD_DIGITS: Final = range(13, 20)
IBAN_LENGTH: Final = range(15, 35)
IBAN_MIN_DIGITS: Final = 10
PHONE_DIGITS: Final = range(7, 18)  # E.164's 15 digits, plus an international prefix "00"

#: Regions whose national number formats (no country code) count as phone numbers.
NATIONAL_REGIONS: Final = ("US", "GB")
#: From this many digits on, a number that is possible in a region counts even if unassigned
#: (``(555) 123-4567`` is a well-formed US number, although 555 is not a real area code).
_POSSIBLE_IS_ENOUGH: Final = 10
_INTERNATIONAL_PREFIXES: Final = ("00", "011")


def luhn_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """A primary account number: 13 to 19 digits passing the Luhn check."""
    return len(digits) in CARD_DIGITS and luhn_valid(digits)


def is_iban(compact: str) -> bool:
    """An IBAN without separators, in upper case: country, check digits, mod-97 remainder 1.

    The country's own length is not checked: an IBAN-shaped string passing mod-97 by chance is
    rare in speech, and redacting it anyway is the safe error.
    """
    if len(compact) not in IBAN_LENGTH or not compact.isascii() or not compact.isalnum():
        return False
    if not (compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    if sum(char.isdigit() for char in compact) < IBAN_MIN_DIGITS:
        return False
    rearranged = compact[4:] + compact[:4]
    as_number = "".join(str(int(char, 36)) for char in rearranged)
    return int(as_number) % 97 == 1


def is_phone_number(written: str) -> bool:
    """Whether ``written`` (digits with separators, maybe a leading ``+``) is a phone number."""
    digits = "".join(char for char in written if char.isdigit())
    if len(digits) not in PHONE_DIGITS:
        return False
    if written.startswith("+"):
        return _possible(_parse(written, None))
    if digits.startswith(_INTERNATIONAL_PREFIXES):
        return any(_possible(_parse(written, region)) for region in NATIONAL_REGIONS)
    for region in NATIONAL_REGIONS:
        number = _parse(written, region)
        if (
            number is not None
            and _possible(number)
            and (len(digits) >= _POSSIBLE_IS_ENOUGH or phonenumbers.is_valid_number(number))
        ):
            return True
    return False


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _possible(number: phonenumbers.PhoneNumber | None) -> bool:
    if number is None:
        return False
    reason = phonenumbers.is_possible_number_with_reason(number)
    return bool(reason == phonenumbers.ValidationResult.IS_POSSIBLE)
