"""Narrow adaptations of the network stack for the per-frame hot path (see docs/upstream/)."""
