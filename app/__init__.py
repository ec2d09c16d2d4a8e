"""Realtime voice relay: browser <-> Realtime model, every call logged."""
