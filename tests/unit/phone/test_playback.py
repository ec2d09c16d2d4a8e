"""Where playback stands, and what a barge-in cuts (the heard-part rule for phones)."""

from __future__ import annotations

from app.phone.playback import Playback, Truncation


def test_nothing_to_cut_before_any_audio() -> None:
    playback = Playback(bytes_per_ms=8)
    assert not playback.playing
    assert playback.interrupt() == []


def test_cut_where_playback_stood() -> None:
    playback = Playback(bytes_per_ms=8)
    assert playback.sent("a", 800) == 100
    assert playback.sent("a", 800) == 200
    playback.heard("a", 100)
    assert playback.playing
    assert playback.interrupt() == [Truncation("a", 100)]
    assert not playback.playing


def test_an_item_heard_whole_is_not_cut() -> None:
    playback = Playback(bytes_per_ms=8)
    playback.sent("a", 800)
    playback.heard("a", 100)
    assert not playback.playing
    assert playback.interrupt() == []


def test_a_later_item_heard_means_earlier_ones_were_heard_whole() -> None:
    playback = Playback(bytes_per_ms=48)
    playback.sent("a", 4800)
    playback.sent("b", 4800)
    playback.heard("b", 50)
    assert playback.interrupt() == [Truncation("b", 50)]


def test_items_queued_but_not_yet_heard_are_cut_at_zero() -> None:
    playback = Playback(bytes_per_ms=8)
    playback.sent("a", 800)
    playback.heard("a", 40)
    playback.sent("b", 800)
    assert playback.interrupt() == [Truncation("a", 40), Truncation("b", 0)]


def test_heard_never_passes_what_was_sent_nor_goes_back() -> None:
    playback = Playback(bytes_per_ms=8)
    playback.sent("a", 80)
    playback.heard("a", 500)
    playback.sent("a", 80)
    playback.heard("a", 5)
    assert playback.interrupt() == [Truncation("a", 10)]


def test_progress_for_an_unknown_item_is_ignored() -> None:
    playback = Playback(bytes_per_ms=8)
    playback.sent("a", 80)
    playback.heard("x", 10)
    assert playback.interrupt() == [Truncation("a", 0)]
