"""Reusable tumour-growth tools: a Fisher–Kolmogorov solver and offline atlas access."""

from imagination.growth.atlas import Atlas, load_mni152
from imagination.growth.fisher_kolmogorov import (
    GrowthSolver,
    gaussian_seed,
    simulate_growth,
    stable_time_step,
    tissue_diffusivity,
)

__all__ = [
    "Atlas",
    "GrowthSolver",
    "gaussian_seed",
    "load_mni152",
    "simulate_growth",
    "stable_time_step",
    "tissue_diffusivity",
]
