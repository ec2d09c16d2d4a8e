"""Files under ``DATA_DIR`` are the relay's alone: directories 0700, files 0600.

They hold conversations (the SQLite file, spooled documents, checkpoints of live calls): with
the usual umask they would be created world-readable (0755 / 0644), and any other account on the
machine could read every transcript.  The creation modes are set here, whatever the umask; a
directory the operator made beforehand keeps the mode they gave it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "create_private_file", "private_dir"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents as directories only the relay's user may use."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another worker made it first
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask


def create_private_file(path: Path) -> None:
    """Create ``path`` (empty, mode 0600) if it does not exist yet."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    os.close(fd)
