"""Recordings on local disk until they are committed: blocks, their state, and the seal.

One directory per recording under ``DATA_DIR/recordings/.staging/<name without .wav>/``:

* ``recording.json`` -- written when the call starts: name, sample rate, channels, where the
  recording goes.  Enough to build the WAV header after a crash.
* ``NNNNNN.pcm`` -- block *N* of the audio (interleaved PCM16), written every few seconds
  (a temporary name, then an atomic rename: a block is whole or absent).
* ``NNNNNN.sent`` -- block *N* is staged in Blob Storage (the block id is derived from the
  name and *N*); holds its size.  Its ``.pcm`` is then deleted.
* ``commit.json`` -- the seal: the call ended (or crashed and was recovered); the document's
  figures (seconds, gaps, cut by a crash).  A sealed recording is committed by whoever gets to
  it first: the call's own shutdown, else the flusher, retrying until it lands.

Every function here blocks: call them from worker threads.  Several processes may share the
directory (``WORKERS`` > 1); each recording's name is its call's document id, so nothing is
shared but sealed recordings, whose commit is idempotent.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import attrs

from app.recording.wav import WavFormat

__all__ = ["Block", "Seal", "StagingArea"]

_META = "recording.json"
_SEAL = "commit.json"


@attrs.frozen
class Block:
    """Block ``seq`` of ``size`` bytes; ``path`` is its local data, None once uploaded."""

    seq: int
    size: int
    path: Path | None


@attrs.frozen
class Seal:
    """What the document says of a finished recording."""

    seconds: float
    gaps: int
    cut_by_crash: bool


@attrs.frozen
class StagingArea:
    """The ``.staging`` directory under the recordings directory ``root``."""

    root: Path

    @property
    def directory(self) -> Path:
        return self.root / ".staging"

    def begin(self, name: str, fmt: WavFormat, where: str) -> None:
        """Start recording ``name`` (its directory and ``recording.json``)."""
        folder = self._folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"name": name, "rate": fmt.rate, "channels": fmt.channels, "where": where}
        _write_atomically(folder / _META, json.dumps(meta).encode())

    def write_block(self, name: str, seq: int, data: bytes) -> Path:
        """Block ``seq``'s audio, whole or not at all."""
        path = self._folder(name) / f"{seq:06d}.pcm"
        _write_atomically(path, data)
        return path

    def mark_sent(self, name: str, seq: int, size: int) -> None:
        """Block ``seq`` is in Blob Storage: keep its size, drop its data."""
        folder = self._folder(name)
        _write_atomically(folder / f"{seq:06d}.sent", str(size).encode())
        (folder / f"{seq:06d}.pcm").unlink(missing_ok=True)

    def blocks(self, name: str) -> list[Block]:
        """The recording's blocks in order."""
        found: dict[int, Block] = {}
        for path in self._folder(name).iterdir():
            stem, _, kind = path.name.partition(".")
            if not stem.isdigit() or kind not in ("pcm", "sent"):
                continue
            seq = int(stem)
            if kind == "sent":
                found[seq] = Block(seq, int(path.read_text() or 0), None)
            elif seq not in found:
                found[seq] = Block(seq, path.stat().st_size, path)
        return [found[seq] for seq in sorted(found)]

    def format_of(self, name: str) -> tuple[WavFormat, str]:
        """The recording's format and where it goes, from ``recording.json``."""
        meta = json.loads((self._folder(name) / _META).read_bytes())
        return WavFormat(rate=int(meta["rate"]), channels=int(meta["channels"])), str(meta["where"])

    def seal(self, name: str, seal: Seal) -> None:
        """The recording is finished: it may be committed from now on."""
        data = {"seconds": seal.seconds, "gaps": seal.gaps, "cut_by_crash": seal.cut_by_crash}
        _write_atomically(self._folder(name) / _SEAL, json.dumps(data).encode())

    def seal_of(self, name: str) -> Seal | None:
        try:
            data: dict[str, Any] = json.loads((self._folder(name) / _SEAL).read_bytes())
        except FileNotFoundError:
            return None
        return Seal(float(data["seconds"]), int(data["gaps"]), bool(data["cut_by_crash"]))

    def exists(self, name: str) -> bool:
        return (self._folder(name) / _META).exists()

    def sealed(self) -> list[str]:
        """Names of the sealed recordings waiting to be committed, oldest seal first."""
        try:
            seals = [folder / _SEAL for folder in self.directory.iterdir()]
        except FileNotFoundError:
            return []
        present = []
        for seal in seals:
            try:
                present.append((seal.stat().st_mtime, seal.parent.name + ".wav"))
            except FileNotFoundError:
                continue
        return [name for _, name in sorted(present)]

    def abandoned(self, now: float, age: float) -> list[str]:
        """Unsealed recordings begun more than ``age`` seconds before ``now`` (wall clock).

        A live call's recording is never older than the longest call; an older unsealed one
        belongs to a process that died before its call left a checkpoint (so no document will
        ever name it): nothing will commit it.
        """
        try:
            folders = list(self.directory.iterdir())
        except FileNotFoundError:
            return []
        found = []
        for folder in folders:
            try:
                if (folder / _SEAL).exists() or now - (folder / _META).stat().st_mtime <= age:
                    continue
            except FileNotFoundError:
                continue  # committed meanwhile, or a directory without its metadata yet
            found.append(folder.name + ".wav")
        return sorted(found)

    def remove(self, name: str) -> None:
        """Forget a committed recording's staging (another process may have done it)."""
        shutil.rmtree(self._folder(name), ignore_errors=True)

    def _folder(self, name: str) -> Path:
        stem = name.removesuffix(".wav")
        if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
            raise ValueError(f"not a recording name: {name!r}")
        return self.directory / stem


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, path)
