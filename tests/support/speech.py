"""Real speech for the phone tests' callers: espeak-ng's voice, converted by sox to raw audio in
the format a provider streams (mu-law 8 kHz for Twilio, PCM16 24 kHz for ACS).

Both tools come from Debian (scripts/install-speech, scripts/install-chromium).  Cached: a phrase
is synthesised once per test session.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PCM16_24K", "ULAW_8K", "spoken"]

#: sox's output options for each format (raw, mono).
ULAW_8K = ("-e", "mu-law", "-b", "8", "-r", "8000")
PCM16_24K = ("-e", "signed-integer", "-b", "16", "-r", "24000", "-L")


@functools.cache
def spoken(text: str, encoding: tuple[str, ...]) -> bytes:
    """``text`` spoken by espeak-ng, as raw mono audio in sox's ``encoding`` options."""
    with tempfile.TemporaryDirectory() as tmp:
        wav, raw = Path(tmp) / "speech.wav", Path(tmp) / "speech.raw"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, timeout=30)
        command = ["sox", str(wav), "-t", "raw", *encoding, "-c", "1", str(raw)]
        subprocess.run(command, check=True, timeout=30)
        return raw.read_bytes()
