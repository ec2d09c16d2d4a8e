"""Named spools with leases (SPOOL_LOCKS=false): no file lock anywhere, and still each file of a
gone process is adopted exactly once, a live process's spool never.

Two "processes" here are two spool names in one data directory; the process test
(tests/process/test_shared_data_dir.py) runs two relays on one DATA_DIR.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from app.record.tracker import Sender
from app.rules.reasons import DisconnectReason
from app.store import spool_leases
from app.store.spool import Spool
from app.store.spool_leases import (
    LEASE_TIMEOUT,
    Lease,
    adopt_gone_spools,
    claim_named_spool,
    keep_named_spool,
    spools_dir,
)
from tests.support.documents import conversation, make_document

NOW = 1_800_000_000.0


def a_document(session: str, customer: str = "alice") -> dict[str, Any]:
    said: list[tuple[Sender, str]] = [("user", f"hello from {session}")]
    return make_document(
        customer,
        f"ai_conv_{session}_1",
        datetime(2026, 11, 30, tzinfo=UTC),
        session_id=session,
        record=conversation(said),
        reason=DisconnectReason.SERVER_SHUTDOWN,
    )


def spool_with_lease(data_dir: Path, name: str, lease: Lease | None) -> Spool:
    root = spools_dir(data_dir) / name
    root.mkdir(parents=True)
    if lease is not None:
        lease.write(root)
    return Spool(root)


def stored_sessions(spool: Spool) -> set[str]:
    return {entry.doc["conversation_id"] for p in spool.pending() if (entry := spool.read(p))}


def test_a_lease_is_gone_when_released_or_run_out() -> None:
    assert not Lease(NOW).gone(NOW)
    assert not Lease(NOW).gone(NOW + LEASE_TIMEOUT)
    assert Lease(NOW).gone(NOW + LEASE_TIMEOUT + 0.1)
    assert Lease(NOW, released=True).gone(NOW)


def test_a_lease_file_round_trips_and_a_torn_one_reads_as_none(tmp_path: Path) -> None:
    Lease(NOW, released=True).write(tmp_path)
    assert Lease.read(tmp_path) == Lease(NOW, released=True)
    (tmp_path / "lease.json").write_text('{"renewed_at": 17')
    assert Lease.read(tmp_path) is None
    assert Lease.read(tmp_path / "nothing") is None


def test_only_the_spools_of_processes_gone_are_adopted(tmp_path: Path) -> None:
    mine = spool_with_lease(tmp_path, "me", Lease(NOW))
    live = spool_with_lease(tmp_path, "live", Lease(NOW - 5))
    released = spool_with_lease(tmp_path, "released", Lease(NOW - 1, released=True))
    stale = spool_with_lease(tmp_path, "stale", Lease(NOW - LEASE_TIMEOUT - 1))
    live.write_checkpoint("s-live", a_document("s-live"))  # a call still going on
    live.write_pending(a_document("s-live-pending"))
    released.write_pending(a_document("s-released"))
    stale.write_checkpoint("s-crashed", a_document("s-crashed"))  # died in a call
    stale.write_pending(a_document("s-stale"))

    assert adopt_gone_spools(tmp_path, mine, NOW) == 3
    assert stored_sessions(mine) == {"s-released", "s-crashed", "s-stale"}
    entries = [entry for path in mine.pending() if (entry := mine.read(path))]
    [recovered] = [e for e in entries if e.doc["conversation_id"] == "s-crashed"]
    assert recovered.overwrite is False  # a checkpoint never replaces a final document
    assert mine.checkpoints() == []
    # The live process's spool is untouched; the gone ones are removed once emptied.
    assert len(live.checkpoints()) == 1 and len(live.pending()) == 1
    assert sorted(p.name for p in spools_dir(tmp_path).iterdir()) == ["live", "me"]
    assert adopt_gone_spools(tmp_path, mine, NOW) == 0  # nothing twice


def test_an_adopted_crash_checkpoint_goes_through_the_recovery_hook(tmp_path: Path) -> None:
    mine = spool_with_lease(tmp_path, "me", Lease(NOW))
    stale = spool_with_lease(tmp_path, "stale", Lease(NOW - LEASE_TIMEOUT - 1))
    stale.write_checkpoint("s-crashed", a_document("s-crashed"))
    amended: list[str] = []

    def amend(doc: dict[str, Any]) -> dict[str, Any]:  # RECORD_CALLS seals the recording here
        amended.append(doc["conversation_id"])
        return {**doc, "recording": {"cut_by_crash": True}}

    assert adopt_gone_spools(tmp_path, mine, NOW, amend) == 1
    assert amended == ["s-crashed"]
    [entry] = [entry for path in mine.pending() if (entry := mine.read(path))]
    assert entry.doc["recording"] == {"cut_by_crash": True}


def test_a_spool_being_created_is_left_alone_until_it_has_a_lease_or_is_old(
    tmp_path: Path,
) -> None:
    mine = spool_with_lease(tmp_path, "me", Lease(NOW))
    newborn = spool_with_lease(tmp_path, "newborn", None)
    newborn.write_pending(a_document("s-newborn"))
    assert adopt_gone_spools(tmp_path, mine, time.time()) == 0
    old = time.time() - LEASE_TIMEOUT - 10
    os.utime(newborn.root, (old, old))
    assert adopt_gone_spools(tmp_path, mine, time.time()) == 1


def test_an_adopter_that_died_halfway_is_taken_over(tmp_path: Path) -> None:
    mine = spool_with_lease(tmp_path, "me", Lease(NOW))
    # "ghost" renamed the spool of "gone" to adopt it, then died (its own lease ran out).
    spool_with_lease(tmp_path, "ghost", Lease(NOW - LEASE_TIMEOUT - 1))
    halfway = spool_with_lease(tmp_path, "gone.adopting.ghost", Lease(NOW - 100, released=True))
    halfway.write_pending(a_document("s-halfway"))
    busy = spool_with_lease(tmp_path, "other.adopting.live", None)  # "live" is adopting it now
    spool_with_lease(tmp_path, "live", Lease(NOW))
    busy.write_pending(a_document("s-busy"))
    adopt_gone_spools(tmp_path, mine, NOW)
    assert "s-halfway" in stored_sessions(mine)
    assert "s-busy" not in stored_sessions(mine)
    assert (spools_dir(tmp_path) / "other.adopting.live").exists()


def test_two_adopters_racing_take_each_file_exactly_once(tmp_path: Path) -> None:
    first = claim_named_spool(tmp_path, "first")
    second = claim_named_spool(tmp_path, "second")
    sessions = set()
    for n in range(40):
        orphan = spool_with_lease(tmp_path, f"gone-{n}", Lease(1.0, released=True))
        for k in range(3):
            session = f"s-{n}-{k}"
            orphan.write_pending(a_document(session, customer=f"c{n}"))
            sessions.add(session)
    now = time.time()  # both adopters' own leases are fresh: neither takes the other's
    with ThreadPoolExecutor(2) as pool:
        moved = list(pool.map(lambda s: adopt_gone_spools(tmp_path, s, now), [first, second]))
    taken = [stored_sessions(first), stored_sessions(second)]
    assert sum(moved) == len(sessions) == 120
    assert taken[0] | taken[1] == sessions and not taken[0] & taken[1]


async def test_the_keeper_renews_adopts_later_and_releases_on_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_leases, "RENEW_INTERVAL", 0.05)
    adopted = trio.Event()
    async with trio.open_nursery() as nursery:
        spool: Spool = await nursery.start(
            lambda task_status: keep_named_spool(
                tmp_path, on_adopted=adopted.set, task_status=task_status
            )
        )
        first = Lease.read(spool.root)
        assert first is not None and not first.released
        # A process exits cleanly after the keeper started: adopted on a later round.
        gone = spool_with_lease(tmp_path, "exited", Lease(time.time(), released=True))
        gone.write_pending(a_document("s-exited"))
        with trio.fail_after(5):
            await adopted.wait()
        assert stored_sessions(spool) == {"s-exited"}
        renewed = Lease.read(spool.root)
        assert renewed is not None and renewed.renewed_at > first.renewed_at
        nursery.cancel_scope.cancel()
    last = Lease.read(spool.root)
    assert last is not None and last.released  # adopted at once by the next process
