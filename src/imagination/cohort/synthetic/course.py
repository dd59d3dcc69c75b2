"""The treatment course of a glioblastoma after its pre-operative exam: what the tumour does.

Newly diagnosed glioblastoma, standard of care: subtotal resection, chemoradiation (radiotherapy
ends 8-12 weeks after the pre-operative exam), a post-radiotherapy exam 3-5 weeks later (the
RANO 2.0 reference of every follow-up), then follow-ups 7-11 weeks after radiotherapy and every
8-12 weeks after that. Each subject has one course (its *fate*):

- ``true_progression``: the residual tumour regrows by Fisher–Kolmogorov with its own D and
  rho (the same solver as before surgery), resistant to treatment;
- ``pseudoprogression``: the tumour itself stays stable, while treatment-related enhancement
  appears inside the radiotherapy field around the cavity and residual at the first follow-up
  (inside the 12-week window) and shrinks later (to :data:`PSEUDO_DECAY` per exam); the
  infiltrating cells in that injured tissue die, so it has low rCBV and PET uptake;
- ``partial_response``, ``stable``, ``complete_response``: treatment-sensitive tumour whose
  density is scaled down (log-kill) so that the enhancing volume reaches a drawn fraction of
  the reference (5-25 %, 65-115 %; complete response: below every voxel's enhancement
  threshold, non-enhancing signal may stay).

Fates are allotted by largest remainder of :data:`FATE_WEIGHTS` over the series subjects, so
that pseudoprogression is a quarter of the early enlargements (true progression enlarges at
the first follow-up; 20-30 % is the clinical range, RANO 2.0). The response labels are not the
fates: :func:`imagination.cohort.synthetic.longitudinal.pair_truth` derives them from volumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from imagination.cohort.synthetic.followup import radiotherapy_field
from imagination.cohort.synthetic.tumor import (
    ET,
    NETC,
    SNFH,
    Thresholds,
    Tumour,
    local_distance,
    visible_labels,
)
from imagination.cohort.synthetic.tumor_types import CaseParameters
from imagination.growth.fisher_kolmogorov import GrowthSolver

FATE_WEIGHTS: dict[str, float] = {
    "true_progression": 0.42,
    "pseudoprogression": 0.14,
    "partial_response": 0.16,
    "stable": 0.16,
    "complete_response": 0.12,
}
#: Target enhancing-volume ratios (follow-up / reference) of the treatment-sensitive fates.
RATIO_RANGES: dict[str, tuple[float, float]] = {
    "partial_response": (0.05, 0.25),
    "stable": (0.65, 1.15),
    "pseudoprogression": (0.7, 1.1),
}
#: Total enhancement (tumour + treatment effect) / reference at a pseudoprogression's peak.
PSEUDO_PEAK_RATIO = (1.8, 2.6)
#: Share of the peak treatment-related enhancement left at each later follow-up.
PSEUDO_DECAY = 0.25
RC = 4  #: resection-cavity code of the BraTS 2024 post-treatment label map


def allot_fates(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` fates in the proportions of :data:`FATE_WEIGHTS` (largest remainder), shuffled."""
    names = list(FATE_WEIGHTS)
    shares = np.array([FATE_WEIGHTS[f] for f in names]) * n
    counts = np.floor(shares).astype(int)
    for i in np.argsort(-(shares - counts), kind="stable")[: n - int(counts.sum())]:
        counts[i] += 1
    fates = [name for name, count in zip(names, counts, strict=True) for _ in range(count)]
    return [fates[i] for i in rng.permutation(n)]


@dataclass(frozen=True)
class Timeline:
    """Days from the pre-operative exam (day 0)."""

    radiotherapy_end: int
    post_radiotherapy: int
    followups: tuple[int, ...]


def sample_timeline(n_followups: int, rng: np.random.Generator) -> Timeline:
    rt_end = int(rng.integers(56, 85))
    post = rt_end + int(rng.integers(21, 36))
    days = [rt_end + int(rng.integers(49, 78))]
    for _ in range(n_followups - 1):
        days.append(days[-1] + int(rng.integers(56, 85)))
    return Timeline(rt_end, post, tuple(days))


@dataclass
class ExamState:
    """The truth of one post-operative exam: tumour density, cavity and treatment effect."""

    day: int
    density: np.ndarray  #: tumour cell density (treatment effect excluded)
    cavity: np.ndarray  #: bool
    treatment_enhancement: np.ndarray  #: bool: enhancing, but no tumour (pseudoprogression)
    labels: np.ndarray = field(init=False)  #: BraTS 2024 post-treatment codes 1-4
    tumour_enhancing: np.ndarray = field(init=False)  #: bool: ET of the tumour alone
    necrotic: np.ndarray = field(init=False)


def _subtotal_cavity(tumour: Tumour, rng: np.random.Generator) -> np.ndarray:
    """Resect 55-80 % of the visible core from one side (plane through the core), leaving a
    nodular enhancing residual at the cavity wall."""
    core = (tumour.labels == NETC) | (tumour.labels == ET)
    points = np.argwhere(core).astype(np.float64)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    along = points @ direction
    cut = np.quantile(along, float(rng.uniform(0.55, 0.8)))
    cavity = np.zeros(core.shape, dtype=bool)
    cavity[tuple(points[along <= cut].astype(int).T)] = True
    return cavity & tumour.brain


def _scaled_to(density: np.ndarray, ratio: float, et_volume: Callable[[np.ndarray], int],
               reference: int) -> np.ndarray:
    """``density`` times the factor whose enhancing volume is ``ratio`` of ``reference``
    (bisection; the volume falls as the factor does)."""
    if ratio <= 0.0 or reference == 0:
        return np.zeros_like(density)
    low, high = 0.0, 1.5
    for _ in range(24):
        mid = 0.5 * (low + high)
        if et_volume(density * np.float32(mid)) >= ratio * reference:
            high = mid
        else:
            low = mid
    return density * np.float32(high)


def _treatment_shell(state_core: np.ndarray, cavity: np.ndarray, field_mask: np.ndarray,
                     brain: np.ndarray, spacing: tuple[float, float, float],
                     volume_voxels: float, jitter: np.ndarray) -> np.ndarray:
    """The ``volume_voxels`` voxels nearest the cavity and residual (inside the radiotherapy
    field) that enhance from treatment; ``jitter`` (mm, fixed per subject) breaks distance
    ties and makes the shell irregular."""
    source = cavity | state_core
    distance = local_distance(source, spacing, 30.0, inside=False)
    candidates = field_mask & brain & ~source & np.isfinite(distance)
    shell = np.zeros(cavity.shape, dtype=bool)
    k = int(min(np.count_nonzero(candidates), round(volume_voxels)))
    if k <= 0:
        return shell
    where = np.flatnonzero(candidates)
    order = np.argsort((distance + jitter).ravel()[where], kind="stable")
    shell.ravel()[where[order[:k]]] = True
    return shell


def simulate_course(tumour: Tumour, params: CaseParameters, fate: str, timeline: Timeline,
                    spacing: tuple[float, float, float],
                    label: Callable[[ExamState], None],
                    rng: np.random.Generator) -> list[ExamState]:
    """The post-radiotherapy exam and the follow-ups of one subject (labelled by ``label``)."""
    if tumour.diffusivity is None or tumour.thresholds is None:
        raise ValueError("a treatment course needs a grown glioma")
    cavity = _subtotal_cavity(tumour, rng)
    residual = tumour.density.copy()
    residual[cavity] = 0.0
    empty = np.zeros(cavity.shape, dtype=bool)
    post = ExamState(timeline.post_radiotherapy, residual, cavity, empty)
    label(post)
    reference = int(np.count_nonzero(post.tumour_enhancing))

    def et_volume(density: np.ndarray) -> int:
        probe = ExamState(0, density, cavity, empty)
        label(probe)
        return int(np.count_nonzero(probe.tumour_enhancing))

    exams = [post]
    diffusivity = tumour.diffusivity.copy()
    diffusivity[cavity] = 0.0
    solver = GrowthSolver(diffusivity, spacing)
    field_mask = radiotherapy_field(tumour, spacing)
    density, day = residual, timeline.post_radiotherapy
    peak_shell = 0.0
    jitter = rng.uniform(0.0, 1.5 * min(spacing), cavity.shape).astype(np.float32)
    for k, fu_day in enumerate(timeline.followups):
        shell = empty
        if fate == "true_progression":
            density = solver.advance(density, params.rho, float(fu_day - day))
            density[cavity] = 0.0
        elif fate == "complete_response":  # no enhancement left; some FLAIR signal may stay
            ceiling = 0.9 * float(np.min(tumour.thresholds.t1c))
            density = residual * np.float32(ceiling / max(float(residual.max()), 1e-6))
        else:
            low, high = RATIO_RANGES[fate]
            if fate == "partial_response":  # deeper with time
                high = high / (k + 1)
                low = min(low, high)
            ratio = float(rng.uniform(low, high))
            density = _scaled_to(residual, ratio, et_volume, reference)
            if fate == "pseudoprogression":
                if k == 0:  # the peak is set once, at the first follow-up
                    peak_shell = (float(rng.uniform(*PSEUDO_PEAK_RATIO)) * reference
                                  - et_volume(density))
                extra = peak_shell * (PSEUDO_DECAY ** k)
                core = density >= tumour.thresholds.t1c
                shell = _treatment_shell(core, cavity, field_mask, tumour.brain, spacing, extra,
                                         jitter)
                # treatment-injured tissue: the few infiltrating cells there die
                density = np.where(shell, density * np.float32(0.1), density)
        state = ExamState(fu_day, density.astype(np.float32), cavity, shell)
        label(state)
        exams.append(state)
        day = fu_day
    return exams


def labeller(thresholds: Thresholds, params: CaseParameters,
             spacing: tuple[float, float, float]) -> Callable[[ExamState], None]:
    """Fill an exam's labels from its density (as before surgery), cavity and treatment effect."""
    def label(state: ExamState) -> None:
        labels, necrotic = visible_labels(state.density, thresholds, params.necrosis, spacing)
        labels[state.cavity] = 0
        necrotic &= ~state.cavity
        state.tumour_enhancing = labels == ET
        rim = np.zeros_like(state.treatment_enhancement)
        if state.treatment_enhancement.any():
            grown = local_distance(state.treatment_enhancement, spacing, 5.0, inside=False)
            rim = (grown <= 5.0) & (labels == 0) & ~state.cavity
        labels[rim] = SNFH  # oedema around treatment-related enhancement
        labels[state.treatment_enhancement & ~state.cavity & (labels != ET)] = ET
        labels[state.cavity] = RC
        state.labels = labels
        state.necrotic = necrotic

    return label
