"""The consortium's questions first: one sentence per declared ablation ("Adding PET to
fk-growth-pet changes recurrence coverage by +0.35 percentage points [0.08, 0.72], ..."),
shown at the top of ``report.html`` and ``summary.md``."""

from __future__ import annotations

import math
from typing import Any

from imagination.report.markdown import fmt
from imagination.report.tables import SMALL_N, RunResults, metric_semantics

#: Display scale of a unit: fractions and probabilities as percentage points.
_SCALE = {"fraction": (100.0, "percentage points"), "mL": (1.0, "mL"), "mm": (1.0, "mm")}
_TESTS = {"permutation-exact": "exact sign-flip permutation test",
          "permutation": "sign-flip permutation test"}


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _signed(x: float, digits: int) -> str:
    return "–" if math.isnan(x) else f"{x:+.{digits}f}".replace("-", "−")


def ablation_answers(results: RunResults) -> list[str]:
    """One sentence per row of ``ablation.csv``: the with − without effect in clinical units,
    its interval, the test and n."""
    table = results.ablation
    if table is None or table.empty:
        return []
    out = []
    for r in table.to_dict("records"):
        metric = str(r["metric"])
        semantics = metric_semantics(metric)
        unit = "probability" if metric == "p_true" else semantics.unit
        scale, words = _SCALE.get(unit, (100.0, "percentage points") if unit == "probability"
                                  else (1.0, ""))
        task = "" if str(r.get("task")) in metric else f" ({r.get('task')})"
        subject = (f"Adding {str(r['modality']).upper()} to {r['adapter']} changes "
                   f"{semantics.label}{task}")
        estimate = _number(r.get("estimate")) * scale
        if math.isnan(estimate):
            reason = str(r.get("test") or "no finite pair")
            out.append(f"{subject}: not estimable ({reason}).")
            continue
        low, high = _number(r.get("ci_low")) * scale, _number(r.get("ci_high")) * scale
        p = _number(r.get("p_value"))
        test = _TESTS.get(str(r.get("test")), str(r.get("test")))
        p_text = "p < 0.001" if p < 0.001 else f"p = {fmt(p)}"
        digits = 2 if scale == 100.0 else 3
        n = _number(r.get("n"))
        small = (f" Small sample (n = {n:.0f} < {SMALL_N}): read with caution."
                 if math.isfinite(n) and n < SMALL_N else "")
        out.append(f"{subject} by {_signed(estimate, digits)} {words}".rstrip()
                   + f" [{_signed(low, digits)}, {_signed(high, digits)}] ({results.level} CI; "
                   f"with − without), {test} {p_text}, n = {fmt(r.get('n'))}.{small}")
    return out
