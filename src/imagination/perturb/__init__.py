"""Seeded, replayable perturbations with severity levels."""
