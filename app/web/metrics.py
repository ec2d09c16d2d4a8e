"""Prometheus metrics, read from the relay's own counters at scrape time.

The hot path only bumps plain integers on the call object; nothing here runs per frame.  A
custom collector turns the relay's state into metric families when ``/metrics`` is scraped, in a
registry of our own (never prometheus_client's global one, so tests and several apps in one
process do not collide).

With ``WORKERS`` > 1 every figure is the sum over the workers (see `app.process.workers`), through
prometheus-client's multiprocess mode: each worker copies its figures into the library's
per-process files every ``PUBLISH_INTERVAL`` (`SharedMetrics`; still nothing per frame), and any
worker's ``/metrics`` merges all the files.  A dead worker's counters stay in the sums; its gauges
leave them (the supervisor marks it dead).  A worker's own figures are exact at scrape time, its
siblings' at most ``PUBLISH_INTERVAL`` old.
"""

from __future__ import annotations

import glob
import logging
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import attrs
import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.admission.relay import Relay
from app.recording.stats import RecordingStats

log = logging.getLogger(__name__)

#: prometheus-client's own variable: the directory of its multiprocess files.  The supervisor
#: sets it for its workers; the library reads it when the first metric is made.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds between copies of a worker's figures to the shared files.
PUBLISH_INTERVAL = 1.0

GaugeMode = Literal["livesum", "livemax", "mostrecent"]
#: How each gauge combines over workers (counters are summed, dead workers' included).
GAUGE_MODES: dict[str, GaugeMode] = {
    "relay_active_calls": "livesum",
    "relay_draining": "livemax",
    "relay_spool_pending": "livesum",
    "relay_last_save_seconds": "mostrecent",
    "relay_last_save_request_units": "mostrecent",
    "relay_recordings_pending": "livesum",
}


class RelayCollector(Collector):
    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    def collect(self) -> Iterator[Metric]:
        relay = self._relay
        registry = relay.registry
        yield GaugeMetricFamily("relay_active_calls", "Calls in progress", value=registry.active)
        yield CounterMetricFamily(
            "relay_calls_started", "Calls accepted since start", value=registry.calls_started
        )
        yield CounterMetricFamily(
            "relay_calls_refused",
            "Handshakes refused (capacity or shutdown)",
            value=registry.calls_refused,
        )
        yield GaugeMetricFamily(
            "relay_draining", "1 while the server is shutting down", value=int(registry.draining)
        )
        yield CounterMetricFamily(
            "relay_frames_from_browser",
            "Frames received from browsers by calls that have ended",
            value=registry.frames_from_browser,
        )
        yield CounterMetricFamily(
            "relay_client_events_refused",
            "Client events and frames refused (allow-list, frame limits) by calls that have ended",
            value=registry.client_events_refused,
        )
        yield CounterMetricFamily(
            "relay_frames_from_upstream",
            "Frames received from the model by calls that have ended",
            value=registry.frames_from_upstream,
        )
        recorder = relay.recorder
        for name, help_text, value in (
            (
                "relay_conversations_saved",
                "Documents written to the store by calls",
                recorder.saved,
            ),
            (
                "relay_conversations_spooled",
                "Documents spooled after a failed save",
                recorder.spooled,
            ),
            ("relay_conversations_flushed", "Spooled documents later written", recorder.flushed),
            ("relay_spool_flush_failures", "Failed flush attempts", recorder.flush_failures),
            (
                "relay_conversations_recovered",
                "Checkpoints recovered after a crash",
                recorder.recovered,
            ),
            (
                "relay_conversations_skipped_empty",
                "Calls with no messages (no document)",
                registry.calls_without_messages + recorder.skipped_empty,
            ),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
        yield GaugeMetricFamily(
            "relay_spool_pending", "Documents waiting in the spool", value=recorder.pending_count()
        )
        health = recorder.spool_health
        yield GaugeMetricFamily(
            "relay_spool_writable",
            "1 while the spool can be written (0: a store failure now loses conversations)",
            value=int(health.writable),
        )
        yield CounterMetricFamily(
            "relay_spool_write_failures",
            "Spool writes that failed (disk full, directory unwritable)",
            value=health.failures,
        )
        yield CounterMetricFamily(
            "relay_conversations_lost",
            "Documents neither the store nor the spool took",
            value=recorder.lost,
        )
        store = relay.store
        yield GaugeMetricFamily(
            "relay_store_open", "1 once the store has been opened", value=int(store.is_open)
        )
        yield GaugeMetricFamily(
            "relay_last_save_seconds",
            "Duration of the last store save",
            value=recorder.last_save_seconds,
        )
        yield CounterMetricFamily(
            "relay_store_request_units",
            "Cosmos DB request units charged for saves (0 with SQLite)",
            value=recorder.request_units,
        )
        yield GaugeMetricFamily(
            "relay_last_save_request_units",
            "Cosmos DB request units charged for the last save",
            value=recorder.last_request_charge,
        )
        if relay.recordings is not None:
            yield from _recording_metrics(relay.recordings.stats)


def _recording_metrics(stats: RecordingStats) -> Iterator[Metric]:
    """RECORD_CALLS: the recordings' counters (absent when recording is off)."""
    for name, help_text, value in (
        ("relay_recordings_started", "Calls whose recording writer started", stats.calls),
        (
            "relay_recording_gaps",
            "Runs of audio missing from recordings (the writer fell behind or a disk failed)",
            stats.gaps,
        ),
        (
            "relay_recording_items_dropped",
            "Audio frames or cuts the hot path could not hand to a writer that fell behind",
            stats.dropped_items,
        ),
        (
            "relay_recording_blocks_staged",
            "Recording blocks written to staging",
            stats.blocks_staged,
        ),
        (
            "relay_recording_blocks_uploaded",
            "Recording blocks staged in Blob Storage while their call ran",
            stats.blocks_uploaded,
        ),
        (
            "relay_recording_upload_failures",
            "Uploads or commits of recordings that failed (retried from staging)",
            stats.upload_failures,
        ),
        ("relay_recordings_committed", "Recordings committed (file or blob)", stats.committed),
        (
            "relay_recordings_recovered",
            "Recordings of crashed calls sealed at start-up",
            stats.recovered,
        ),
    ):
        yield CounterMetricFamily(name, help_text, value=value)
    yield GaugeMetricFamily(
        "relay_recordings_pending",
        "Sealed recordings waiting in staging to be committed",
        value=stats.pending,
    )


@attrs.define(eq=False)
class SharedMetrics:
    """One worker's figures, copied into prometheus-client's multiprocess files.

    One per process: the library keeps one file per process and metric type, and two metric
    objects of the same name in one process would overwrite each other's value.
    """

    relay: Relay
    _counters: dict[str, tuple[Counter, float]] = attrs.field(factory=dict, init=False)
    _gauges: dict[str, tuple[Gauge, float | None]] = attrs.field(factory=dict, init=False)

    def publish(self) -> None:
        """Copy every figure of the relay to this process's files."""
        for family in RelayCollector(self.relay).collect():
            value = family.samples[0].value
            if family.type == "counter":
                counter, published = self._counters.get(family.name) or (
                    Counter(family.name, family.documentation, registry=None),
                    0.0,
                )
                if value > published:
                    counter.inc(value - published)
                self._counters[family.name] = (counter, max(value, published))
            else:
                gauge, last = self._gauges.get(family.name) or (
                    Gauge(
                        family.name,
                        family.documentation,
                        registry=None,
                        multiprocess_mode=GAUGE_MODES.get(family.name, "livesum"),
                    ),
                    None,
                )
                if value != last:  # "mostrecent" keeps the time of the last change
                    gauge.set(value)
                self._gauges[family.name] = (gauge, value)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Publish every ``PUBLISH_INTERVAL`` until cancelled, and once more on the way out."""
        task_status.started()
        try:
            while True:
                self.publish()
                await trio.sleep(PUBLISH_INTERVAL)
        finally:
            self.publish()


class WorkersCollector(Collector):
    """The sum over workers: this worker's figures published now, merged with its siblings'."""

    def __init__(self, shared: SharedMetrics, directory: Path) -> None:
        self._shared = shared
        self._directory = directory

    def collect(self) -> Iterator[Metric]:
        self._shared.publish()
        merged = MultiProcessCollector(None, path=str(self._directory))  # type: ignore[no-untyped-call]
        yield from merged.collect()  # type: ignore[no-untyped-call]


_SHARED: weakref.WeakKeyDictionary[Relay, SharedMetrics] = weakref.WeakKeyDictionary()


def shared_metrics_dir(relay: Relay) -> Path | None:
    """The multiprocess directory when ``relay`` is one of several workers, else None."""
    if relay.settings.workers <= 1:
        return None
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    return Path(directory) if directory and os.path.isdir(directory) else None


def shared_metrics(relay: Relay) -> SharedMetrics | None:
    """The publisher of ``relay``'s figures when it is one of several workers, else None."""
    if shared_metrics_dir(relay) is None:
        return None
    shared = _SHARED.get(relay)
    if shared is None:
        shared = _SHARED[relay] = SharedMetrics(relay)
    return shared


def active_calls(relay: Relay) -> int:
    """Live calls of the whole relay: every worker's with ``WORKERS`` > 1, else this process's.

    This worker's own count is read live; its siblings' from their last publication.
    """
    directory = shared_metrics_dir(relay)
    own = relay.registry.active
    if directory is None:
        return own
    mine = f"_{os.getpid()}.db"
    files = [
        path
        for path in glob.glob(os.path.join(directory, "gauge_livesum_*.db"))
        if not path.endswith(mine)
    ]
    others = 0.0
    merged = MultiProcessCollector.merge(files, accumulate=False)  # type: ignore[no-untyped-call]
    for metric in merged:
        if metric.name == "relay_active_calls":
            others += sum(sample.value for sample in metric.samples)
    return own + int(others)


def metrics_registry(relay: Relay) -> CollectorRegistry:
    shared = shared_metrics(relay)
    directory = shared_metrics_dir(relay)
    if shared is not None and directory is not None:
        registry = CollectorRegistry()
        registry.register(WorkersCollector(shared, directory))
        return registry
    registry = CollectorRegistry(auto_describe=True)
    registry.register(RelayCollector(relay))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
