"""Fisher–Kolmogorov reaction–diffusion, du/dt = div(D grad u) + rho u (1 - u).

numpy/scipy. Diffusion uses the conservative 7-point (in 3-D) finite-volume stencil with
harmonic-mean face diffusivities, so a face touching a voxel with ``D = 0`` carries no flux
(no flux into CSF, cavities or out of the brain). Time stepping is Strang splitting: the
logistic reaction is integrated exactly, the diffusion explicitly with a step inside the
monotonicity bound ``dt * sum(face coefficients) <= 1``, which also keeps ``u`` in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from imagination.errors import InputError

#: Fraction of the explicit stability bound used as time step.
SAFETY = 0.9
#: Voxels with p_WM + p_GM below this are outside the growth domain (TumorGrowthToolkit rule).
TISSUE_THRESHOLD = 0.1


def tissue_diffusivity(wm: np.ndarray, gm: np.ndarray, d_white: float,
                       ratio: float = 10.0) -> np.ndarray:
    """Diffusivity map D = d_white * p_WM + (d_white / ratio) * p_GM in mm²/day.

    Voxels whose tissue fraction p_WM + p_GM is below 0.1 get D = 0 (outside the domain).
    """
    wm = np.asarray(wm, dtype=np.float32)
    gm = np.asarray(gm, dtype=np.float32)
    if wm.shape != gm.shape:
        raise InputError(f"tissue maps differ in shape: wm {wm.shape}, gm {gm.shape}")
    if not (d_white > 0 and ratio > 0):
        raise InputError(f"need d_white > 0 and ratio > 0, got {d_white}, {ratio}")
    d = d_white * wm + (d_white / ratio) * gm
    d[(wm + gm) < TISSUE_THRESHOLD] = 0.0
    return d.astype(np.float32)


def gaussian_seed(shape: Sequence[int], center_vox: Sequence[float], sigma_mm: float,
                  spacing_mm: Sequence[float]) -> np.ndarray:
    """Initial cell density: a Gaussian of peak 1 and width ``sigma_mm`` at ``center_vox``."""
    if len(shape) != len(center_vox) or len(shape) != len(spacing_mm):
        raise InputError("shape, center_vox and spacing_mm must have the same length")
    if sigma_mm <= 0:
        raise InputError(f"sigma_mm must be positive, got {sigma_mm}")
    r2 = np.zeros(tuple(int(n) for n in shape), dtype=np.float32)
    for axis, (n, c, h) in enumerate(zip(shape, center_vox, spacing_mm, strict=True)):
        coord = ((np.arange(int(n), dtype=np.float32) - float(c)) * float(h)) ** 2
        view = [1] * len(shape)
        view[axis] = int(n)
        r2 = r2 + coord.reshape(view)
    return np.exp(-r2 / (2.0 * float(sigma_mm) ** 2)).astype(np.float32)


def _axis_slices(ndim: int, axis: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index of the lower and the upper voxel of every face normal to ``axis``."""
    lo = [slice(None)] * ndim
    hi = [slice(None)] * ndim
    lo[axis] = slice(0, -1)
    hi[axis] = slice(1, None)
    return tuple(lo), tuple(hi)


def _face_coefficients(diffusivity: np.ndarray,
                       spacing_mm: Sequence[float]) -> list[np.ndarray]:
    """Per axis, harmonic-mean face diffusivity divided by h² (1/day); 0 where a side is 0."""
    coeffs = []
    d = np.asarray(diffusivity, dtype=np.float64)
    for axis, h in enumerate(spacing_mm):
        lo_index, hi_index = _axis_slices(d.ndim, axis)
        lo, hi = d[lo_index], d[hi_index]
        product = lo * hi
        total = lo + hi
        face = np.divide(2.0 * product, total, out=np.zeros_like(total), where=product > 0)
        coeffs.append(face / float(h) ** 2)
    return coeffs


def _outflow_rate(coeffs: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Sum of a voxel's face coefficients (1/day): the explicit scheme needs dt * this <= 1."""
    rate = np.zeros(shape, dtype=np.float64)
    for axis, c in enumerate(coeffs):
        lo, hi = _axis_slices(len(shape), axis)
        rate[lo] += c
        rate[hi] += c
    return rate


def stable_time_step(diffusivity: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """Largest explicit diffusion step (days) keeping the scheme monotone, times ``SAFETY``."""
    d = np.asarray(diffusivity)
    rate = _outflow_rate(_face_coefficients(d, spacing_mm), d.shape)
    peak = float(rate.max()) if rate.size else 0.0
    return math.inf if peak <= 0 else SAFETY / peak


def _validate(initial: np.ndarray, diffusivity: np.ndarray, rho: float, days: float,
              spacing_mm: Sequence[float]) -> None:
    if initial.shape != diffusivity.shape:
        raise InputError(
            f"initial density {initial.shape} and diffusivity {diffusivity.shape} differ in shape"
        )
    if len(spacing_mm) != initial.ndim or any(not (float(h) > 0) for h in spacing_mm):
        raise InputError(f"spacing_mm {tuple(spacing_mm)} must give one positive size per axis")
    if not np.all(np.isfinite(diffusivity)) or float(diffusivity.min(initial=0.0)) < 0:
        raise InputError("diffusivity must be finite and non-negative")
    if not np.all(np.isfinite(initial)):
        raise InputError("initial density must be finite")
    if not (math.isfinite(rho) and rho >= 0):
        raise InputError(f"rho must be finite and non-negative, got {rho}")
    if not (math.isfinite(days) and days >= 0):
        raise InputError(f"days must be finite and non-negative, got {days}")


class GrowthSolver:
    """Fisher–Kolmogorov stepping on one diffusivity map, set up once and advanced repeatedly.

    The diffusion operator is assembled once as a sparse matrix over the domain voxels only
    (7-point stencil in 3-D, harmonic-mean face coefficients), so each explicit step is one
    sparse matrix-vector product. :func:`simulate_growth` is one ``advance`` of a new solver.
    """

    def __init__(self, diffusivity: np.ndarray, spacing_mm: Sequence[float]) -> None:
        diffusivity = np.asarray(diffusivity)
        _validate(np.zeros(diffusivity.shape, np.float32), diffusivity, 0.0, 0.0, spacing_mm)
        self.shape = diffusivity.shape
        self.spacing = tuple(float(h) for h in spacing_mm)
        self.domain = diffusivity > 0
        self._flat = np.flatnonzero(self.domain)
        self._laplacian, self._outflow = _domain_operator(diffusivity, self.domain, spacing_mm)
        self._peak = float(self._outflow.max()) if self._outflow.size else 0.0
        self._steps: dict[float, tuple[int, float, sparse.csr_matrix]] = {}

    def _step(self, days: float) -> tuple[int, float, sparse.csr_matrix]:
        """Number of explicit steps, their length and the step matrix for ``days`` (built once
        per duration: a fit advances by the same chunk hundreds of times)."""
        found = self._steps.get(days)
        if found is None:
            n_steps = max(1, math.ceil(days * self._peak / SAFETY))
            dt = days / n_steps
            step = (sparse.identity(self._flat.size, dtype=np.float64, format="csr")
                    - sparse.diags(dt * self._outflow, format="csr")
                    + dt * self._laplacian).astype(np.float32).tocsr()
            found = self._steps[days] = (n_steps, dt, step)
        return found

    @property
    def size(self) -> int:
        """Number of domain voxels (the length of a flat state)."""
        return int(self._flat.size)

    def restrict(self, density: np.ndarray) -> np.ndarray:
        """The flat state of a density map: its domain voxels, clipped to [0, 1], float32."""
        density = np.asarray(density)
        if density.shape != self.shape:
            raise InputError(f"density {density.shape} and diffusivity {self.shape} differ")
        if not np.all(np.isfinite(density)):
            raise InputError("initial density must be finite")
        return np.clip(density.reshape(-1)[self._flat], 0.0, 1.0).astype(np.float32)

    def expand(self, state: np.ndarray) -> np.ndarray:
        """The density map of a flat state (0 outside the domain)."""
        result = np.zeros(self.shape, dtype=np.float32)
        result.reshape(-1)[self._flat] = state
        return result

    def step_flat(self, state: np.ndarray, rho: float, days: float) -> np.ndarray:
        """A new flat state ``days`` after ``state`` (which is left unchanged): the same
        arithmetic as :meth:`advance` without leaving the domain, for loops of snapshots."""
        if not (math.isfinite(rho) and rho >= 0 and math.isfinite(days) and days >= 0):
            raise InputError(f"rho and days must be finite and non-negative: {rho}, {days}")
        u = np.array(state, dtype=np.float32)
        if days > 0 and u.size:
            n_steps, dt, step = self._step(float(days))
            u = _integrate(u, step, float(rho), dt, n_steps)
        np.clip(u, 0.0, 1.0, out=u)
        return u

    def advance(self, density: np.ndarray, rho: float, days: float) -> np.ndarray:
        """u after ``days`` more days from ``density`` (float32 in [0, 1])."""
        return self.expand(self.step_flat(self.restrict(density), rho, days))


def _domain_operator(diffusivity: np.ndarray, domain: np.ndarray,
                     spacing_mm: Sequence[float]) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Off-diagonal face coefficients between domain voxels (1/day) and each voxel's outflow."""
    n = int(np.count_nonzero(domain))
    row_of = np.full(domain.shape, -1, dtype=np.int64)
    row_of[domain] = np.arange(n)
    coeffs = _face_coefficients(diffusivity, spacing_mm)
    rows, cols, values = [], [], []
    for axis, coeff in enumerate(coeffs):
        lo, hi = _axis_slices(domain.ndim, axis)
        face = coeff > 0  # both sides are in the domain
        lower, upper, value = row_of[lo][face], row_of[hi][face], coeff[face]
        rows += [lower, upper]
        cols += [upper, lower]
        values += [value, value]
    if rows:
        matrix = sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, n))
    else:
        matrix = sparse.csr_matrix((n, n))
    outflow = np.asarray(matrix.sum(axis=1)).ravel()
    return matrix, outflow


def simulate_growth(initial: np.ndarray, diffusivity: np.ndarray, rho: float, days: float,
                    spacing_mm: Sequence[float]) -> np.ndarray:
    """Tumour cell density u after ``days`` of Fisher–Kolmogorov growth.

    ``initial``: density at t = 0 (clipped to [0, 1]; set to 0 outside the domain).
    ``diffusivity``: D in mm²/day per voxel, 0 outside the domain (no flux there).
    ``rho``: proliferation rate in 1/day. ``spacing_mm``: voxel size per axis.
    Returns float32 u(T) in [0, 1], 0 outside the domain.
    """
    initial = np.asarray(initial)
    diffusivity = np.asarray(diffusivity)
    _validate(initial, diffusivity, float(rho), float(days), spacing_mm)
    return GrowthSolver(diffusivity, spacing_mm).advance(initial, float(rho), float(days))


def _react(u: np.ndarray, rho: float, dt: float, scratch: np.ndarray) -> None:
    """Exact logistic step in place: u <- u e^(rho dt) / (1 + u (e^(rho dt) - 1))."""
    if rho == 0 or dt == 0:
        return
    growth = math.exp(rho * dt)
    np.multiply(u, growth - 1.0, out=scratch)
    scratch += 1.0
    u *= growth
    u /= scratch


def _integrate(u: np.ndarray, step: sparse.csr_matrix, rho: float, dt: float,
               n_steps: int) -> np.ndarray:
    """Strang splitting R(dt/2) [D(dt) R(dt)]... R(dt/2), with adjacent half reactions merged;
    ``step`` is the explicit diffusion matrix I + dt (L - diag(outflow))."""
    scratch = np.empty_like(u)
    _react(u, rho, dt / 2, scratch)
    for index in range(n_steps):
        u = step @ u
        _react(u, rho, dt if index < n_steps - 1 else dt / 2, scratch)
    return u
