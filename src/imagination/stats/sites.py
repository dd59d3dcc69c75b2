"""Per-site estimates and between-site heterogeneity (Cochran's Q, I², DerSimonian–Laird τ²)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2, norm
from scipy.stats import t as student_t

from imagination.errors import InputError


@dataclass(frozen=True)
class SiteEstimate:
    site: str
    estimate: float
    se: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Heterogeneity:
    """Inverse-variance pooling across sites. ``excluded`` lists sites without a usable
    (finite, positive) standard error, which take no part in Q, I² or the pooled estimates."""

    sites: tuple[SiteEstimate, ...]
    fixed_estimate: float
    fixed_se: float
    random_estimate: float
    random_se: float
    random_low: float
    random_high: float
    q: float
    df: int
    p_value: float
    i2: float
    tau2: float
    excluded: tuple[str, ...]


def site_means(values: Sequence[float] | np.ndarray, sites: Sequence[object], *,
               alpha: float = 0.05) -> list[SiteEstimate]:
    """Mean of a per-case metric at each site with its standard error (SD/√n) and t interval;
    a site with one case has SE and interval NaN. Sites in sorted order."""
    v = np.asarray(values, dtype=np.float64)
    labels = np.asarray([str(s) for s in sites])
    if v.shape != labels.shape or v.ndim != 1:
        raise InputError("values and sites must be 1-D and of equal length")
    out = []
    for site in np.unique(labels):
        x = v[labels == site]
        x = x[np.isfinite(x)]
        n = x.size
        mean = float(x.mean()) if n else float("nan")
        se = float(x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        half = float(student_t.ppf(1 - alpha / 2, n - 1) * se) if n > 1 else float("nan")
        out.append(SiteEstimate(str(site), mean, se, mean - half, mean + half, n))
    return out


def site_heterogeneity(estimates: Sequence[SiteEstimate], *,
                       alpha: float = 0.05) -> Heterogeneity:
    """Cochran's Q = Σ w_i (θ_i − θ_FE)², w_i = 1/SE_i², p from χ²(k − 1); I² = max(0, (Q − df)/Q);
    DerSimonian–Laird τ² and the random-effects pooled estimate with its Wald interval."""
    usable = [e for e in estimates
              if np.isfinite(e.estimate) and np.isfinite(e.se) and e.se > 0]
    excluded = tuple(e.site for e in estimates if e not in usable)
    if len(usable) < 2:
        raise InputError(f"heterogeneity needs at least two sites with a standard error; "
                         f"usable: {[e.site for e in usable]}")
    theta = np.array([e.estimate for e in usable])
    w = 1.0 / np.array([e.se for e in usable]) ** 2
    fixed = float(np.sum(w * theta) / np.sum(w))
    q = float(np.sum(w * (theta - fixed) ** 2))
    df = len(usable) - 1
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    scale = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    # scale is 0 in floating point only when one site's weight dwarfs the others (a near-zero
    # SE): the pooled estimate is that site's under either model, so tau² is taken as 0
    tau2 = max(0.0, (q - df) / scale) if scale > 0 else 0.0
    w_random = 1.0 / (1.0 / w + tau2)
    random = float(np.sum(w_random * theta) / np.sum(w_random))
    random_se = float(np.sqrt(1.0 / np.sum(w_random)))
    z = norm.ppf(1 - alpha / 2)
    return Heterogeneity(
        sites=tuple(estimates), fixed_estimate=fixed, fixed_se=float(np.sqrt(1.0 / np.sum(w))),
        random_estimate=random, random_se=random_se, random_low=random - z * random_se,
        random_high=random + z * random_se, q=q, df=df, p_value=float(chi2.sf(q, df)),
        i2=float(i2), tau2=float(tau2), excluded=excluded,
    )
