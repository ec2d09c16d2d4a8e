"""Spool: durable local files for documents the store has not taken (synchronous API)."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from app.store import InvalidDocumentError, Spool
from app.store.spool import safe_name
from tests.support.documents import make_document


def make_doc(
    doc_id: str = "ai_conv_s1_1", customer_id: str = "cust-1", **extra: Any
) -> dict[str, Any]:
    """A document of the relay's shape with the id and customer the spool names its files by.

    Tests that replace ``messages`` or ``metadata`` with placeholders do so on purpose: the spool
    keeps any JSON document as it is, and must refuse what is not JSON."""
    return make_document(customer_id, doc_id, session_id="s1", **extra)


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_write_pending_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    final = make_doc("ai_conv_a_1")
    recovered = make_doc("ai_conv_b_1", disconnect_reason="server_crash")
    assert spool.write_pending(final) is True
    assert spool.write_pending(recovered, overwrite=False) is True

    assert files_in(spool.pending_dir) == ["cust-1.ai_conv_a_1.json", "cust-1.ai_conv_b_1.json"]
    entries = [spool.read(path) for path in spool.pending()]
    assert [(e.doc, e.overwrite) for e in entries if e is not None] == [
        (final, True),
        (recovered, False),
    ]


def test_a_failed_write_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    spool.write_pending(make_doc(messages=[1]))

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        spool.write_pending(make_doc(messages=[1, 2]))
    monkeypatch.undo()

    [path] = spool.pending()
    entry = spool.read(path)
    assert entry is not None
    assert entry.doc["messages"] == [1]
    assert files_in(spool.pending_dir) == [path.name]


def test_unserialisable_document_is_rejected_without_leaving_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(InvalidDocumentError, match="not JSON"):
        spool.write_pending(make_doc(metadata={"x": object()}))
    with pytest.raises(InvalidDocumentError, match="customer_id"):
        spool.write_pending({"id": "x"})
    assert spool.pending() == []
    assert files_in(spool.pending_dir) == []


def test_overwrite_flag_decides_whether_an_existing_entry_is_replaced(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write_pending(make_doc(disconnect_reason="user_hangup"))
    assert spool.write_pending(make_doc(disconnect_reason="server_crash"), overwrite=False) is False
    [path] = spool.pending()
    entry = spool.read(path)
    assert entry is not None
    assert (entry.doc["disconnect_reason"], entry.overwrite) == ("user_hangup", True)

    assert spool.write_pending(make_doc(disconnect_reason="client_gone")) is True
    entry = spool.read(path)
    assert entry is not None
    assert entry.doc["disconnect_reason"] == "client_gone"


def test_pending_is_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for name in ("a", "b", "c"):
        spool.write_pending(make_doc(f"ai_conv_{name}"))
    # Names sort a < b < c; make the modification times say c, a, b.
    for name, mtime_ns in (("c", 1_000), ("a", 2_000), ("b", 3_000)):
        path = spool.pending_dir / f"cust-1.ai_conv_{name}.json"
        os.utime(path, ns=(mtime_ns, mtime_ns))
    assert [p.name for p in spool.pending()] == [
        "cust-1.ai_conv_c.json",
        "cust-1.ai_conv_a.json",
        "cust-1.ai_conv_b.json",
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'{"version": 1, "overwrite": true}',
        b'{"version": 99, "overwrite": true, "doc": {"id": "x", "customer_id": "c"}}',
        b'{"version": 1, "overwrite": "yes", "doc": {"id": "x", "customer_id": "c"}}',
        b'{"version": 1, "overwrite": true, "doc": {"id": "x"}}',
    ],
    ids=["bad-json", "bad-utf8", "not-object", "no-doc", "unknown-version", "bad-flag", "no-key"],
)
def test_corrupt_file_is_quarantined_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    spool = Spool(tmp_path)
    spool.write_pending(make_doc("ai_conv_good"))
    bad = spool.pending_dir / "cust-1.ai_conv_bad.json"
    bad.write_bytes(content)

    with caplog.at_level(logging.ERROR, logger="app.store.spool"):
        entries = [spool.read(path) for path in spool.pending()]

    assert [e.doc["id"] for e in entries if e is not None] == ["ai_conv_good"]
    assert [p.name for p in spool.pending()] == ["cust-1.ai_conv_good.json"]
    [moved] = list(spool.corrupt_dir.iterdir())
    assert moved.name.endswith("-cust-1.ai_conv_bad.json")
    assert moved.read_bytes() == content
    assert any(
        r.levelno == logging.ERROR and "Corrupt spool file" in r.getMessage()
        for r in caplog.records
    )
    # Never looped on: a second pass does not see it again.
    assert spool.read(bad) is None
    assert len(list(spool.corrupt_dir.iterdir())) == 1


def test_reading_a_vanished_file_is_not_corruption(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.read(spool.pending_dir / "gone.json") is None
    assert not spool.corrupt_dir.exists()
    spool.remove(spool.pending_dir / "gone.json")  # missing is fine


@pytest.mark.parametrize(
    "value",
    ["../../etc/passwd", "a/b", "a\\b", ".", "..", "", "x" * 300, "é", "a.b", "nul\x00byte", "~"],
)
def test_names_derived_from_ids_are_safe(tmp_path: Path, value: str) -> None:
    spool = Spool(tmp_path / "spool")
    spool.write_pending(make_doc(doc_id=value or "x", customer_id=value or "c"))
    spool.write_checkpoint(value, make_doc())
    for path in (*spool.pending(), *spool.checkpoints()):
        assert path.parent in (spool.pending_dir, spool.live_dir)
        assert re.fullmatch(r"[A-Za-z0-9_~-]{1,100}(\.[A-Za-z0-9_~-]{1,100})?\.json", path.name)
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {*spool.pending(), *spool.checkpoints()}
    assert len(written) == 2


def test_safe_name_keeps_plain_ids_and_keeps_distinct_ids_distinct() -> None:
    assert safe_name("ai_conv_abc-123_1714564800") == "ai_conv_abc-123_1714564800"
    unsafe = ["a/b", "a\\b", "a b", "a:b", "a_b~", ""]
    names = {safe_name(v) for v in unsafe}
    assert len(names) == len(unsafe)
    assert "a_b" not in names  # never collides with a plain id
    assert all(not n.startswith(".") for n in names)


def test_checkpoints_are_replaced_and_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write_checkpoint("sess-1", make_doc(messages=[1]))
    path = spool.write_checkpoint("sess-1", make_doc(messages=[1, 2]))
    spool.write_checkpoint("sess-2", make_doc("ai_conv_s2_1"))
    assert {p.name for p in spool.checkpoints()} == {"sess-1.json", "sess-2.json"}
    entry = spool.read(path)
    assert entry is not None
    assert entry.doc["messages"] == [1, 2]
    assert entry.overwrite is False  # a checkpoint never overwrites a stored document

    spool.remove_checkpoint("sess-1")
    spool.remove_checkpoint("sess-1")  # idempotent
    assert [p.name for p in spool.checkpoints()] == ["sess-2.json"]


def test_temp_files_are_ignored_and_swept_at_start_up(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write_pending(make_doc())
    spool.write_checkpoint("sess-1", make_doc())
    (spool.pending_dir / ".abc123.tmp").write_bytes(b'{"half": ')
    (spool.live_dir / ".def456.tmp").write_bytes(b"")
    assert [p.name for p in spool.pending()] == ["cust-1.ai_conv_s1_1.json"]
    assert [p.name for p in spool.checkpoints()] == ["sess-1.json"]

    assert spool.discard_partial_writes() == 2
    assert files_in(spool.pending_dir) == ["cust-1.ai_conv_s1_1.json"]
    assert files_in(spool.live_dir) == ["sess-1.json"]


def test_envelope_is_plain_json_a_human_can_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write_pending(make_doc(messages=[{"content": "héllo"}]), overwrite=False)
    [path] = spool.pending()
    envelope = json.loads(path.read_text(encoding="utf-8"))
    assert envelope["version"] == 1
    assert envelope["overwrite"] is False
    assert envelope["doc"]["messages"] == [{"content": "héllo"}]
    assert "héllo" in path.read_text(encoding="utf-8")
