"""A deterministic fake of the OpenAI / Azure OpenAI Realtime model.

The relay's default upstream and the peer of every test and benchmark.  Use it in-process
(:func:`run_session` over a pair of memory channels, in the call's nursery) or as a server
(:func:`serve`, or ``python -m app.simulator --port N``).

Modules, by role: :mod:`.session` (the peer logic), :mod:`.responses` (streaming a reply),
:mod:`.agent` and :mod:`.script` (what to say), :mod:`.vad` (speech detection), :mod:`.audio`
(PCM16 and base64), :mod:`.events` and :mod:`.config` (wire shapes per dialect),
:mod:`.client_events` (reading client events), :mod:`.conversation` (items), :mod:`.faults` and
:mod:`.options` (fault switches), :mod:`.server` (websocket server).
"""

from app.rules.dialect import Dialect, names
from app.simulator.faults import SimulatedClose
from app.simulator.options import SimulatorOptions
from app.simulator.server import serve
from app.simulator.session import run_session

__all__ = ["Dialect", "SimulatedClose", "SimulatorOptions", "names", "run_session", "serve"]
