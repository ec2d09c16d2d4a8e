"""Call recording: one stereo WAV per call, the caller on the left and the agent on the right,
as the caller heard it (``RECORD_CALLS``; see docs/recording.md).

Pure (sans-IO; `tests/unit/test_architecture.py` holds them to it): `mixer` (events in, stereo
PCM out), `wav` (the header), `g711` (phone audio to PCM16), `field` (the document's
``recording`` object).  I/O: `tap` (the hot path's bounded hand-off), `writer` (the call's
task), `staging` (blocks on local disk), `sinks` (local files or Azure Blob Storage),
`flusher` and `recovery` (outages and crashes), `service` (the relay-wide part).

This file imports nothing, so importing a pure module loads no I/O library.
"""
