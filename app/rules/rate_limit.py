"""How fast one browser may send frames: a token bucket, checked once per frame (sans-IO).

A browser sends 50 audio frames a second; ``MAX_FRAME_RATE`` (default 250) leaves room for
bursts of control events while stopping a client that floods the relay (and, through it, the
model).  The rate is averaged over `WINDOW` seconds: the bucket holds ``rate * WINDOW`` frames
and refills at ``rate`` per second, so a short burst above the rate is fine and a sustained one
is not.  Two float operations per frame; no I/O, no clock of its own (the caller passes the time).
"""

from __future__ import annotations

import attrs

__all__ = ["WINDOW", "FrameRateLimit"]

#: Seconds over which the frame rate is averaged.
WINDOW = 2.0


@attrs.define
class FrameRateLimit:
    """``allow(now)`` is False once the sender exceeds ``rate`` frames per second on average."""

    rate: float
    _tokens: float = attrs.field(init=False)
    _last: float | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._tokens = self.rate * WINDOW

    def allow(self, now: float) -> bool:
        """Count one frame received at ``now`` (seconds, monotonic); whether it is allowed."""
        last = self._last
        self._last = now
        if last is not None:
            self._tokens = min(self.rate * WINDOW, self._tokens + (now - last) * self.rate)
        self._tokens -= 1.0
        return self._tokens >= 0.0
