"""Whether the spool can be written, told once per change rather than once per failure.

The spool is the relay's last line of defence: a document the store did not take lives there
until the flusher writes it.  When the spool itself fails (directory unwritable, disk full) calls
go on -- the store may well be fine -- but the operator must know that a store failure now
loses conversations.  `SpoolHealth` keeps that state for ``/readyz``, the dashboard and
``/metrics``, and logs an error when the spool fails and a notice when it recovers, instead of
one line per call per checkpoint interval.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = ["SpoolHealth"]

log = logging.getLogger(__name__)


@attrs.define(eq=False)
class SpoolHealth:
    """The spool's writability; ``failures`` counts every failed spool operation."""

    root: str
    failures: int = 0
    error: str | None = None
    since: str | None = None

    @property
    def writable(self) -> bool:
        return self.error is None

    def failed(self, what: str, exc: OSError) -> None:
        """A spool operation (``what``) failed with ``exc``."""
        self.failures += 1
        message = f"{what}: {exc.strerror or exc}"
        if self.error is None:
            self.since = datetime.now(UTC).isoformat(timespec="seconds")
            log.error(
                "The spool %s cannot be written (%s). Calls go on, but a conversation the "
                "store does not take now is lost. Check the disk and DATA_DIR's permissions.",
                self.root,
                message,
            )
        self.error = message

    def succeeded(self) -> None:
        """A spool write worked: the spool is usable (again)."""
        if self.error is not None:
            log.warning("The spool %s is writable again (failed with: %s)", self.root, self.error)
            self.error = self.since = None

    def status(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "path": self.root,
            "writable": self.writable,
            "write_failures": self.failures,
        }
        if self.error is not None:
            report["error"], report["failing_since"] = self.error, self.since
        return report
