"""Metrics: pure functions of predictions and truth, with direction and edge-case policy."""
