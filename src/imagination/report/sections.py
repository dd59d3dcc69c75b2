"""The report's run-level sections as plain data (cohort, adapters, gates) and the helpers the
task sections share. Each ``*_section`` function reads a :class:`RunResults` and returns a dict
the HTML template renders; nothing here writes files or runs a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from imagination.cohort.vocabulary import CLASSIFICATION_TASKS, MODALITIES
from imagination.report import plots
from imagination.report.gates import GateResult
from imagination.report.markdown import fmt
from imagination.report.tables import RunResults, metric_semantics

HEADLINE_METRICS: tuple[str, ...] = (
    "auroc", "auprc", "balanced_accuracy", "sensitivity", "specificity", "brier", "ece",
    "calibration_slope", "coverage_all_model", "coverage_gain_all", "coverage_enhancing_model",
    "coverage_gain_enhancing", "missed_ml_model", "voxel_auroc",
)
MAX_HEADLINE = 6
MAX_FAILURES_LISTED = 20


def label(metric: str) -> str:
    """The metric's own label (the registry), with its unit: "missed recurrence (model), mL"."""
    m = metric_semantics(metric)
    return f"{m.label}, {m.unit}" if m.unit in ("mL", "mm") else m.label


def direction_words(metric: str) -> str:
    return metric_semantics(metric).direction_words


def rows_where(table: pd.DataFrame | None, **equal: str) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame()
    mask = np.ones(len(table), bool)
    for column, value in equal.items():
        if column not in table.columns:
            return table.iloc[0:0]
        mask &= (table[column] == value).to_numpy()
    return table[mask]


def p_text(value: object) -> str:
    try:
        p = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    if math.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def as_int(value: object) -> int:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(x) else round(x)


# -- cohort -------------------------------------------------------------------------------------

def _cohort_table(results: RunResults) -> pd.DataFrame:
    if results.cohort is not None:
        return results.cohort
    for table in (results.per_case, results.predictions):
        if table is not None and {"case_id", "site"} <= set(table.columns):
            return table[["case_id", "site"]].drop_duplicates("case_id")
    return pd.DataFrame(columns=["case_id", "site"])


def cohort_section(results: RunResults) -> dict[str, Any]:
    """Cases per site, label prevalences (per site), modalities present, covariates."""
    cohort = _cohort_table(results)
    n = int(cohort["case_id"].nunique())
    per_site = cohort.groupby("site")["case_id"].nunique().sort_index()
    subjects = (int(cohort["subject_id"].nunique()) if "subject_id" in cohort.columns else None)
    sites = list(per_site.index)
    prevalence = []
    for task in (t for t in CLASSIFICATION_TASKS if t in cohort.columns):
        counts = pd.crosstab(cohort[task].fillna("(missing)"), cohort["site"])
        counts = counts.reindex(columns=sites, fill_value=0)
        rows = [[str(cls), *[int(v) for v in counts.loc[cls]], int(counts.loc[cls].sum()),
                 f"{100 * counts.loc[cls].sum() / max(n, 1):.1f}%"] for cls in counts.index]
        prevalence.append({"task": task, "rows": rows})
    modalities = []
    if "modalities" in cohort.columns:
        present = cohort["modalities"].fillna("").str.split(";").explode()
        counts = present[present != ""].value_counts()
        order = [m for m in MODALITIES if m in counts] + sorted(set(counts.index) - set(MODALITIES))
        modalities = [[m, int(counts[m]), f"{100 * counts[m] / max(n, 1):.0f}%"] for m in order]
    covariates = []
    if "age" in cohort.columns and cohort["age"].notna().any():
        age = pd.to_numeric(cohort["age"], errors="coerce").dropna()
        covariates.append(("age, years: median [IQR]", f"{age.median():.0f} "
                           f"[{age.quantile(0.25):.0f}–{age.quantile(0.75):.0f}]"))
    if "sex" in cohort.columns:
        counts = cohort["sex"].fillna("(missing)").value_counts()
        covariates.append(("sex", ", ".join(f"{k} {v}" for k, v in counts.items())))
    if "field_strength" in cohort.columns:
        counts = cohort["field_strength"].dropna().astype(str).value_counts()
        covariates.append(("field strength (T)", ", ".join(f"{k}: {v}" for k, v in counts.items())))
    figure = (plots.bar_plot({str(k): int(v) for k, v in per_site.items()},
                             title="Cases per site", xlabel="cases") if len(per_site) else None)
    return {"n_cases": n, "n_subjects": subjects, "sites": sites,
            "per_site": [(str(k), int(v)) for k, v in per_site.items()],
            "prevalence": prevalence, "modalities": modalities, "covariates": covariates,
            "figure": figure}


def plain_table(table: pd.DataFrame | None, **equal: str) -> dict[str, Any] | None:
    rows = rows_where(table, **equal)
    if rows.empty:
        return None
    shown = rows.drop(columns=[c for c in equal if c in rows.columns])
    return {"headers": list(shown.columns),
            "rows": [[fmt(v) for v in r] for r in shown.itertuples(index=False)]}


# -- adapters and provenance ---------------------------------------------------------------------

def adapter_section(results: RunResults, adapter: str) -> dict[str, Any]:
    info = results.run.get("adapters", {}).get(adapter, {})
    card = info.get("card") or {}
    cost = rows_where(results.cost, adapter=adapter)
    cost_rows = []
    for perturbation, rows in (cost.groupby("perturbation") if not cost.empty else []):
        cost_rows.append([str(perturbation), str(len(rows)), fmt(rows["wall_s"].sum(), 1),
                          fmt(rows["wall_s"].median(), 2), fmt(rows["cpu_s"].sum(), 1),
                          fmt(rows["peak_rss_mb"].max(), 0)])
    failures = rows_where(results.failures, adapter=adapter)
    by_kind = ([(str(k), int(v)) for k, v in failures.groupby("kind").size().items()]
               if not failures.empty else [])
    listed = [[str(r.case_id), str(r.perturbation), str(r.kind), str(r.reason)]
              for r in failures.head(MAX_FAILURES_LISTED).itertuples(index=False)]
    return {
        "adapter": adapter, "anchor": f"adapter-{adapter}", "name": info.get("name", adapter),
        "version": info.get("version", "–"), "params": info.get("params") or {},
        "tasks": info.get("tasks") or [], "card": card,
        "cost": cost_rows, "n_failures": len(failures), "failures_by_kind": by_kind,
        "failures": listed, "more_failures": max(0, len(failures) - MAX_FAILURES_LISTED),
    }


def gate_rows(gates: Sequence[GateResult]) -> list[dict[str, Any]]:
    ordered = [g for g in gates if not g.passed] + [g for g in gates if g.passed]
    return [{"passed": g.passed, "name": g.name, "observed": fmt(g.observed, 4),
             "threshold": fmt(g.threshold, 4), "message": g.message} for g in ordered]
