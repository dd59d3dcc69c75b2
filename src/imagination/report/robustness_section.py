"""One task's robustness data: change of the headline metric under each perturbation kind and
severity, worst cases and corruption errors, prediction stability (flip rate, plan Dice),
leave-one-site-out refits, per-site spread and modality ablations."""

from __future__ import annotations

from typing import Any

import pandas as pd

from imagination.report import plots
from imagination.report.markdown import count, fmt, interval
from imagination.report.sections import label, p_text, rows_where
from imagination.report.tables import SITE_SHIFT_KIND, RunResults, metric_semantics

STABILITY_METRICS = ("flip_rate", "plan_dice")


def _with_kind(rows: pd.DataFrame) -> pd.DataFrame:
    if "kind" in rows.columns:
        return rows
    return rows.assign(kind=rows["perturbation"].str.split("@").str[0])


def _corruptions(results: RunResults, task: str, metric: str) -> pd.DataFrame:
    rows = rows_where(results.robustness, task=task, metric=metric)
    if rows.empty:
        return rows
    rows = _with_kind(rows)
    return rows[rows["kind"] != SITE_SHIFT_KIND]


def robustness_figure(results: RunResults, task: str, metric: str,
                      colours: dict[str, str]) -> str | None:
    rows = _corruptions(results, task, metric)
    if rows.empty:
        return None
    panels: dict[str, dict[str, plots.RobustnessSeries]] = {}
    for kind, of_kind in rows.groupby("kind", sort=True):
        series = {}
        for adapter in results.adapters:
            mine = of_kind[of_kind["adapter"] == adapter].sort_values("severity")
            if not mine.empty:
                series[adapter] = plots.RobustnessSeries(
                    mine["severity"].to_numpy(float), mine["delta"].to_numpy(float),
                    mine["delta_ci_low"].to_numpy(float), mine["delta_ci_high"].to_numpy(float))
        if series:
            panels[str(kind)] = series
    return plots.robustness_plot(panels, colours, metric=label(metric)) if panels else None


def worst_case_rows(results: RunResults, task: str, metric: str) -> list[list[str]]:
    """Per adapter and perturbation kind: the worst severity, its value and change, and the
    corruption errors when the run's summary table has them."""
    summary = rows_where(results.robustness_summary, task=task, metric=metric)
    if not summary.empty:
        summary = summary[summary["kind"] != SITE_SHIFT_KIND]
        return [[r["adapter"], r["kind"], count(r["worst_severity"]), fmt(r["worst_value"]),
                 fmt(r["worst_delta"]), fmt(r.get("corruption_error")),
                 fmt(r.get("relative_corruption_error"))]
                for r in summary.to_dict("records")]
    rows = _corruptions(results, task, metric)
    if rows.empty:
        return []
    rows = rows.dropna(subset=["value"])
    semantics = metric_semantics(metric)
    out = []
    for (adapter, kind), mine in rows.groupby(["adapter", "kind"], sort=True):
        worst = mine.loc[mine["value"].map(semantics.badness).idxmax()]
        out.append([str(adapter), str(kind), count(worst["severity"]), fmt(worst["value"]),
                    fmt(worst["delta"]), "–", "–"])
    return out


def stability_rows(results: RunResults, task: str) -> list[list[str]]:
    """Flip rate (classification) or clean-vs-perturbed plan Dice (recurrence) per variant."""
    table = results.robustness
    if table is None:
        return []
    rows = table[(table["task"] == task) & table["metric"].isin(STABILITY_METRICS)]
    return [[r["adapter"], label(r["metric"]), str(r["perturbation"]), fmt(r["value"]),
             count(r["n"])] for r in rows.to_dict("records")]


def site_shift_rows(results: RunResults, task: str, metric: str) -> list[list[str]]:
    """Leave-one-site-out refits (robustness rows of kind site_shift) and per-site spread."""
    out = []
    loso = rows_where(results.robustness, task=task, metric=metric)
    if not loso.empty:
        loso = _with_kind(loso)
        for r in loso[loso["kind"] == SITE_SHIFT_KIND].to_dict("records"):
            out.append([r["adapter"], "refit leaving each site out", fmt(r["value"]),
                        f"{fmt(r['delta'])} {interval(r['delta_ci_low'], r['delta_ci_high'])}"])
    spread = rows_where(results.site_shift, task=task, metric=metric)
    for r in spread.to_dict("records"):
        out.append([r["adapter"], f"sites: worst {r['worst_site']} {fmt(r['worst_value'])}, "
                    f"best {r['best_site']} {fmt(r['best_value'])} ({count(r['n_sites'])} sites)",
                    "", f"spread {fmt(r['spread'])}"])
    return out


def ablation_rows(results: RunResults, task: str) -> list[list[str]]:
    rows = rows_where(results.ablation, task=task)
    return [[r["adapter"], str(r["modality"]), label(r["metric"]), fmt(r["with_value"]),
             fmt(r["without_value"]), f"{fmt(r['estimate'])} {interval(r['ci_low'], r['ci_high'])}",
             p_text(r["p_value"]), count(r["n"])] for r in rows.to_dict("records")]


def robustness_section(results: RunResults, task: str, metric: str,
                       colours: dict[str, str]) -> dict[str, Any] | None:
    section = {
        "figure": robustness_figure(results, task, metric, colours),
        "worst_case": worst_case_rows(results, task, metric),
        "stability": stability_rows(results, task),
        "site_shift": site_shift_rows(results, task, metric),
        "ablation": ablation_rows(results, task),
    }
    return section if any(section.values()) else None
