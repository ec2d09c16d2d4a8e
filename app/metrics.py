"""Prometheus metrics, read from the relay's own counters at scrape time.

The hot path only bumps plain integers on the call object; nothing here runs per frame.  A
custom collector turns the relay's state into metric families when ``/metrics`` is scraped, in a
registry of our own (never prometheus_client's global one, so tests and several apps in one
process do not collide).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.relay import Relay


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
                recorder.skipped_empty,
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


def metrics_registry(relay: Relay) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(RelayCollector(relay))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
