"""Personal data a caller reads out, as the redaction tests say it and expect it stored, and every
form in which a raw value could reach a file."""

from __future__ import annotations

CARD = "4111 1111 1111 1111"
EMAIL = "john.smith@example.com"
PHONE = "+44 20 7946 0958"
SAID = f"My card is {CARD}, my e-mail is {EMAIL} and my number is {PHONE}."
REDACTED = "My card is [card], my e-mail is [email] and my number is [phone]."
COUNTS = {"card": 1, "email": 1, "phone": 1, "iban": 0}
# Every form in which a raw value could reach a file.
RAW = (CARD, CARD.replace(" ", ""), EMAIL, PHONE, PHONE.replace(" ", ""), "7946")
