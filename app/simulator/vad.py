"""Energy-based voice activity detection on PCM16, measured in audio time.

The real services run a neural VAD; the simulator only needs one that is deterministic and cheap,
because it runs on every appended frame of every simulated call.  Audio is cut into 10 ms windows
(whatever size the appended chunks are, so results do not depend on how the client frames its
audio); a window is *voiced* when the mean absolute amplitude of every fourth sample exceeds a
threshold.  Speech starts after :data:`START_MS` of consecutive voiced audio and stops after the
session's silence duration (500 ms by default) of unvoiced audio.

All times are milliseconds of audio appended since the session began, never wall-clock time, so
a test that appends a known sequence of frames gets the same events on every run.

No I/O here: bytes in, events out.
"""

from __future__ import annotations

import sys
from array import array
from typing import Final

import attrs

from app.simulator.audio import BYTES_PER_SAMPLE, SAMPLES_PER_MS

WINDOW_MS: Final = 10
WINDOW_SAMPLES: Final = WINDOW_MS * SAMPLES_PER_MS
_WINDOW_BYTES: Final = WINDOW_SAMPLES * BYTES_PER_SAMPLE
#: Only every SUBSAMPLE-th sample is measured: the level of a 10 ms window barely changes and the
#: cost drops fourfold.
SUBSAMPLE: Final = 4
_MEASURED: Final = len(range(0, WINDOW_SAMPLES, SUBSAMPLE))
#: Mean absolute amplitude (of 32767) above which a window counts as voiced.
DEFAULT_THRESHOLD: Final = 500
#: Voiced audio needed before speech is reported as started.
START_MS: Final = 60
#: Unvoiced audio needed before speech is reported as stopped (the API's ``silence_duration_ms``).
DEFAULT_SILENCE_MS: Final = 500

_BIG_ENDIAN: Final = sys.byteorder == "big"


@attrs.frozen
class SpeechStarted:
    """Speech began ``audio_start_ms`` into the session's audio."""

    audio_start_ms: int


@attrs.frozen
class SpeechStopped:
    """Speech ended ``audio_end_ms`` into the session's audio (where the silence began)."""

    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


@attrs.define(eq=False)
class EnergyVad:
    """Turns appended PCM16 into speech-started / speech-stopped events."""

    threshold: int = DEFAULT_THRESHOLD
    silence_ms: int = DEFAULT_SILENCE_MS
    #: Samples of audio cut into windows so far (the clock of everything reported).
    _windowed: int = 0
    #: Bytes of the last, incomplete window, kept until the next append completes it.
    _carry: bytes = b""
    speaking: bool = False
    #: Sample at which the current run of voiced (or, while speaking, unvoiced) windows began.
    _run_start: int | None = None

    @property
    def elapsed_ms(self) -> int:
        """Milliseconds of audio appended so far."""
        return (self._windowed + len(self._carry) // BYTES_PER_SAMPLE) // SAMPLES_PER_MS

    def feed(self, pcm: bytes, *, detect: bool = True) -> list[VadEvent]:
        """Account for ``pcm`` (appended audio) and return the speech events it caused.

        With ``detect=False`` (turn detection switched off) the audio only advances the clock.
        """
        data = self._carry + pcm if self._carry else pcm
        usable = len(data) - len(data) % _WINDOW_BYTES
        self._carry = data[usable:]
        if not detect:
            self._windowed += usable // BYTES_PER_SAMPLE
            return []
        samples = array("h")
        samples.frombytes(data[:usable])
        if _BIG_ENDIAN:
            samples.byteswap()
        events: list[VadEvent] = []
        for offset in range(0, len(samples), WINDOW_SAMPLES):
            window = samples[offset : offset + WINDOW_SAMPLES : SUBSAMPLE]
            voiced = sum(map(abs, window)) > self.threshold * _MEASURED
            event = self._advance(voiced)
            if event is not None:
                events.append(event)
        return events

    def reset(self) -> None:
        """Forget any speech in progress (the input buffer was committed or cleared)."""
        self.speaking = False
        self._run_start = None

    def _advance(self, voiced: bool) -> VadEvent | None:
        start = self._windowed
        self._windowed = end = start + WINDOW_SAMPLES
        if not self.speaking:
            if not voiced:
                self._run_start = None
                return None
            if self._run_start is None:
                self._run_start = start
            if end - self._run_start < START_MS * SAMPLES_PER_MS:
                return None
            self.speaking = True
            began, self._run_start = self._run_start, None
            return SpeechStarted(began // SAMPLES_PER_MS)
        if voiced:
            self._run_start = None
            return None
        if self._run_start is None:
            self._run_start = start
        if end - self._run_start < self.silence_ms * SAMPLES_PER_MS:
            return None
        self.speaking = False
        ended, self._run_start = self._run_start, None
        return SpeechStopped(ended // SAMPLES_PER_MS)
