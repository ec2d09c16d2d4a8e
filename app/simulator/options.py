"""How one simulated session behaves: its dialect, its pacing and its fault switches.

The options travel two ways.  In-process, the relay builds a :class:`SimulatorOptions` and hands it
to :func:`~app.simulator.session.run_session`.  Standalone, the client dials a URL and the server
reads the options from it (:meth:`SimulatorOptions.from_query`), so a test or a benchmark can ask a
running simulator for a fault without any side channel: ``ws://host:port/v1/realtime?close_after=5``.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl

import attrs

from app.rules.dialect import Dialect

# A bare flag (``?echo``) switches it on.
_TRUE = frozenset({"1", "true", "yes", "on", ""})
_FALSE = frozenset({"0", "false", "no", "off"})


def _non_negative(_: Any, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, not {value}")


def _close_code(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    # 1005, 1006 and 1015 are reserved for reporting and must never be sent in a close frame.
    if not 1000 <= value <= 4999 or value in (1005, 1006, 1015):
        raise ValueError(f"{attribute.name} must be a close code a peer may send, not {value}")


def _positive(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if math.isnan(value) or value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, not {value}")


@attrs.frozen
class SimulatorOptions:
    """Behaviour of one simulated Realtime session.

    The fault switches count *server events sent* (``session.created`` included), which makes a
    failure land at the same point of the conversation on every run.
    """

    dialect: Dialect = Dialect.GA
    #: Close the connection after sending this many events (with ``close_code``).
    close_after: int | None = attrs.field(default=None, validator=_non_negative)
    #: Standalone server: reject the handshake with HTTP 503.  In-process, the relay checks the
    #: flag itself and treats the upstream as unreachable.
    refuse: bool = False
    #: After sending this many events, send nothing more and ignore input; the socket stays open.
    stall_after: int | None = attrs.field(default=None, validator=_non_negative)
    #: After this many events, send an ``error`` event (type ``server_error``) and close 1011.
    error_after: int | None = attrs.field(default=None, validator=_non_negative)
    #: Benchmark mode: answer every ``input_audio_buffer.append`` with one audio delta carrying the
    #: same audio, and nothing else (no VAD, no transcripts).
    echo: bool = False
    #: How many times faster than real time reply audio is produced (``inf``: no pacing).
    speed: float = attrs.field(default=4.0, validator=_positive)
    #: The close code of ``close_after``: 1011 (a failure) by default, 1000 for a clean close.
    close_code: int = attrs.field(default=1011, validator=_close_code)
    #: The session id reported in ``session.created``.  ``None`` picks a random one, because the
    #: relay derives document ids from it and concurrent calls must not collide.
    session_id: str | None = None
    #: The model name reported in the session object.
    model: str | None = None

    @classmethod
    def from_query(cls, query: str) -> SimulatorOptions:
        """Parse options from a URL query, or from a request target (path plus query).

        Recognised parameters: ``dialect`` (``ga``/``beta``); ``close_after``, ``close_code``,
        ``stall_after``, ``error_after`` (integers); ``refuse``, ``echo`` (``1``/``0``,
        ``true``/``false``, or bare); ``speed`` (a positive number); ``session_id``; ``model``.
        Anything else (Azure's ``deployment`` and ``api-version``, a ``customer_id``) is
        ignored, so a relay can dial the simulator with exactly the URL it would use for the
        real service.

        When ``query`` is a request target, the dialect follows the URL form as the real
        services do: ``/openai/realtime`` (Azure preview) or an ``api-version`` parameter means
        beta, ``/v1/realtime`` and ``/openai/v1/realtime`` mean GA.  An explicit ``dialect=``
        wins.

        Raises:
            ValueError: a recognised parameter has a value that cannot be used.
        """
        path, query = _split_target(query)
        params = dict(parse_qsl(query, keep_blank_values=True))
        fields: dict[str, Any] = {}
        if "dialect" in params:
            fields["dialect"] = _dialect(params["dialect"])
        elif path.rstrip("/").endswith("/openai/realtime") or "api-version" in params:
            fields["dialect"] = Dialect.BETA
        for name in ("close_after", "close_code", "stall_after", "error_after"):
            if name in params:
                fields[name] = _integer(name, params[name])
        for name in ("refuse", "echo"):
            if name in params:
                fields[name] = _boolean(name, params[name])
        if "speed" in params:
            fields["speed"] = _number("speed", params["speed"])
        for name in ("session_id", "model"):
            if params.get(name):
                fields[name] = params[name]
        return cls(**fields)


def _split_target(target: str) -> tuple[str, str]:
    """``("/path", "a=1")`` from a request target, ``("", "a=1")`` from a bare query."""
    if target.startswith("/") or "?" in target:
        path, _, query = target.partition("?")
        return path, query
    return "", target


def _dialect(value: str) -> Dialect:
    try:
        return Dialect(value.lower())
    except ValueError:
        raise ValueError(f"dialect must be 'ga' or 'beta', not {value!r}") from None


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


def _boolean(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name} must be 1/0 or true/false, not {value!r}")
