"""``python -m app.worker INDEX PORT FD``: one worker process started by `app.workers`.

Not for direct use: the supervisor passes the shared port and the pipe it watches.  The worker
is ``python -m app`` serving on a socket it shares with its siblings (see `app.workers`).
"""

from __future__ import annotations

import sys

from app.cli.serve import serve_worker
from app.workers import WorkerRole

if __name__ == "__main__":
    sys.exit(serve_worker(WorkerRole.from_argv(sys.argv[1:])))
