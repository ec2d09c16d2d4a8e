"""Count a process tree's system calls with ``strace -c -f`` for the length of a ``with`` block.

strace slows the traced process several times over, so only the count per echo is meaningful,
never the latency or CPU of the traced step.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

ATTACH_GRACE = 1.0


@attrs.define
class Counted:
    total: int | None = None  # None: strace unavailable or its summary unreadable
    by_name: dict[str, int] = attrs.field(factory=dict)


@contextmanager
def count_syscalls(pids: list[int]) -> Iterator[Counted]:
    counted = Counted()
    if shutil.which("strace") is None:
        yield counted
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "strace.txt"
        argv = ["strace", "-c", "-f", "-o", str(out)]
        for pid in pids:
            argv += ["-p", str(pid)]
        tracer = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        time.sleep(ATTACH_GRACE)  # let strace attach before the step starts
        try:
            yield counted
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
        summary = out.read_text() if out.exists() else ""
        counted.total = _total(summary)
        counted.by_name = _by_name(summary)


def _total(summary: str) -> int | None:
    """The ``calls`` column of the summary's ``total`` line (columns are right-aligned)."""
    calls_end = None
    for line in summary.splitlines():
        if "usecs/call" in line and "calls" in line:
            calls_end = line.index("calls", line.index("usecs/call") + 10) + len("calls")
        elif line.rstrip().endswith("total") and calls_end is not None:
            tokens = line[:calls_end].split()
            return int(tokens[-1]) if tokens and tokens[-1].isdigit() else None
    return None


def _by_name(summary: str) -> dict[str, int]:
    """Calls per system call name, from the summary's table rows."""
    counts: dict[str, int] = {}
    calls_end = None
    for line in summary.splitlines():
        if "usecs/call" in line and "calls" in line:
            calls_end = line.index("calls", line.index("usecs/call") + 10) + len("calls")
            continue
        fields = line.split()
        if calls_end is None or not fields or fields[-1] == "total" or line.startswith("-"):
            continue
        tokens = line[:calls_end].split()
        if tokens and tokens[-1].isdigit():
            counts[fields[-1]] = int(tokens[-1])
    return counts
