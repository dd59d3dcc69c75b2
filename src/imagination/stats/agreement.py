"""Agreement between raters or repeated measurements: intraclass correlation (Shrout & Fleiss
1979), Bland–Altman limits of agreement, Fleiss' kappa."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import f as f_dist
from scipy.stats import norm
from scipy.stats import t as student_t

from imagination.errors import InputError


@dataclass(frozen=True)
class Icc:
    """ICC(1,1), ICC(2,1) (two-way random, absolute agreement) and ICC(3,1) (two-way mixed,
    consistency), single rater, with F-based (1 − alpha) intervals (McGraw & Wong 1996)."""

    icc1: float
    icc2: float
    icc3: float
    icc2_low: float
    icc2_high: float
    icc3_low: float
    icc3_high: float
    n_targets: int
    n_raters: int


def icc(ratings: np.ndarray | Sequence[Sequence[float]], *, alpha: float = 0.05) -> Icc:
    """ICCs of a complete targets × raters table (no missing values). Degenerate tables (no
    variance) give NaN where a formula divides by zero."""
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise InputError(f"ICC needs a targets × raters table with at least 2 of each, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError("ICC ratings contain NaN or infinite values")
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_total = np.sum((x - grand) ** 2)
    ss_error = ss_total - ss_rows - ss_cols
    with np.errstate(divide="ignore", invalid="ignore"):
        msr = ss_rows / (n - 1)
        msc = ss_cols / (k - 1)
        mse = ss_error / ((n - 1) * (k - 1))
        msw = (ss_cols + ss_error) / (n * (k - 1))
        icc1 = (msr - msw) / (msr + (k - 1) * msw)
        icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        icc3 = (msr - mse) / (msr + (k - 1) * mse)

        df_r, df_e = n - 1, (n - 1) * (k - 1)
        q = 1 - alpha / 2
        f3 = msr / mse
        f3_low, f3_high = f3 / f_dist.ppf(q, df_r, df_e), f3 * f_dist.ppf(q, df_e, df_r)
        icc3_low, icc3_high = (f3_low - 1) / (f3_low + k - 1), (f3_high - 1) / (f3_high + k - 1)

        a = k * icc2 / (n * (1 - icc2))
        b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
        v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / df_e)
        fl, fu = f_dist.ppf(q, df_r, v), f_dist.ppf(q, v, df_r)
        spread = k * msc + (k * n - k - n) * mse
        icc2_low = n * (msr - fl * mse) / (fl * spread + n * msr)
        icc2_high = n * (fu * msr - mse) / (spread + n * fu * msr)
    return Icc(float(icc1), float(icc2), float(icc3), float(icc2_low), float(icc2_high),
               float(icc3_low), float(icc3_high), n, k)


@dataclass(frozen=True)
class BlandAltman:
    bias: float
    sd: float
    lower_limit: float
    upper_limit: float
    bias_low: float
    bias_high: float
    #: half-width of the (1 − alpha) interval of each limit (Bland & Altman 1999)
    limit_ci_half_width: float
    n: int


def bland_altman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                 alpha: float = 0.05) -> BlandAltman:
    """Mean difference a − b, its t interval, and limits bias ± z·SD (z = 1.96 for 95 %)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise InputError("Bland–Altman needs two 1-D arrays of equal length (at least 2)")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError("Bland–Altman values contain NaN or infinite values")
    d = x - y
    n = d.size
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    z = float(norm.ppf(1 - alpha / 2))
    t = float(student_t.ppf(1 - alpha / 2, n - 1))
    se_bias = sd / np.sqrt(n)
    se_limit = sd * np.sqrt(1 / n + z**2 / (2 * (n - 1)))
    return BlandAltman(bias, sd, bias - z * sd, bias + z * sd, bias - t * se_bias,
                       bias + t * se_bias, t * se_limit, n)


def fleiss_kappa(counts: np.ndarray | Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from a subjects × categories table of rater counts (same number of raters
    per subject); NaN when chance agreement is 1."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] < 1 or np.any(c < 0):
        raise InputError("Fleiss' kappa needs a subjects × categories table of counts")
    raters = c.sum(axis=1)
    if np.any(raters != raters[0]) or raters[0] < 2:
        raise InputError("every subject must be rated by the same number (>= 2) of raters")
    r = raters[0]
    p_j = c.sum(axis=0) / c.sum()
    p_i = (np.sum(c * c, axis=1) - r) / (r * (r - 1))
    p_bar, p_e = p_i.mean(), np.sum(p_j**2)
    return float((p_bar - p_e) / (1 - p_e)) if p_e < 1 else float("nan")
