"""``python -m app.process.worker INDEX PORT FD``: one worker process started by
`app.process.workers`.

Not for direct use: the supervisor passes the shared port and the pipe it watches.  The worker
is ``python -m app`` serving on a socket it shares with its siblings (see `app.process.workers`).
"""

from __future__ import annotations

import sys

from app.cli.serve import serve_worker
from app.process.worker_role import WorkerRole

if __name__ == "__main__":
    sys.exit(serve_worker(WorkerRole.from_argv(sys.argv[1:])))
