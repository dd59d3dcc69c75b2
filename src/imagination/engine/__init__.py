"""Run engine: plan, executors, prediction store, provenance."""
