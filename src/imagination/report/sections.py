"""The report's sections as plain data (tables as lists of rows, figures as SVG text).

Each ``*_section`` function reads a :class:`RunResults` and returns a dict the HTML template
renders; nothing here writes files or runs a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imagination.cohort.vocabulary import CLASSIFICATION_TASKS, MODALITIES, SPATIAL_TASKS
from imagination.errors import InputError
from imagination.report import curves, plots
from imagination.report.gates import GateResult
from imagination.report.markdown import count, fmt, interval
from imagination.report.tables import HETEROGENEITY_SITE, RunResults, primary_metric

METRIC_LABELS: dict[str, str] = {
    "auroc": "AUROC", "auprc": "AUPRC", "balanced_accuracy": "balanced accuracy",
    "accuracy": "accuracy", "sensitivity": "sensitivity", "specificity": "specificity",
    "ppv": "PPV", "npv": "NPV", "f1": "F1", "mcc": "MCC", "cohen_kappa": "Cohen κ",
    "brier": "Brier score", "log_loss": "log loss", "ece": "ECE",
    "calibration_slope": "calibration slope", "calibration_intercept": "calibration intercept",
    "net_benefit": "net benefit", "coverage_all_model": "coverage, all recurrence (model)",
    "coverage_all_standard": "coverage, all recurrence (standard plan)",
    "coverage_gain_all": "coverage gain, all recurrence",
    "coverage_enhancing_model": "coverage, enhancing recurrence (model)",
    "coverage_enhancing_standard": "coverage, enhancing recurrence (standard plan)",
    "coverage_gain_enhancing": "coverage gain, enhancing recurrence",
    "missed_ml_model": "missed recurrence, mL (model)", "voxel_auroc": "voxel AUROC",
}
HEADLINE_METRICS: tuple[str, ...] = (
    "auroc", "auprc", "balanced_accuracy", "sensitivity", "specificity", "brier", "ece",
    "calibration_slope", "coverage_all_model", "coverage_gain_all", "coverage_enhancing_model",
    "coverage_gain_enhancing", "missed_ml_model", "voxel_auroc",
)
MAX_HEADLINE = 6
MAX_EXAMPLES = 4
MAX_FAILURES_LISTED = 20
DIRECTION_WORDS = {"higher": "higher is better", "lower": "lower is better",
                   "target": "closer to the ideal is better"}


def label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def _rows(table: pd.DataFrame | None, **equal: str) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame()
    mask = np.ones(len(table), bool)
    for column, value in equal.items():
        if column not in table.columns:
            return table.iloc[0:0]
        mask &= (table[column] == value).to_numpy()
    return table[mask]


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


# -- tasks --------------------------------------------------------------------------------------

def _headline(results: RunResults, task: str) -> list[str]:
    metrics = results.metrics(task)
    chosen = [m for m in HEADLINE_METRICS if m in metrics][:MAX_HEADLINE]
    return chosen or metrics[:MAX_HEADLINE]


def leaderboard_rows(results: RunResults, task: str) -> dict[str, Any]:
    """Wide headline table (adapters × headline metrics) and the full long table."""
    board = _rows(results.leaderboard, task=task)
    primary = primary_metric(results, task)
    headline = _headline(results, task)
    order = (board[board["metric"] == primary].sort_values("rank", na_position="last")["adapter"]
             .tolist())
    order += [a for a in results.adapters if a not in order and a in set(board["adapter"])]
    wide = []
    for adapter in order:
        cells = []
        for metric in headline:
            row = board[(board["adapter"] == adapter) & (board["metric"] == metric)]
            if row.empty:
                cells.append({"value": "–", "ci": ""})
                continue
            r = row.iloc[0]
            cells.append({"value": fmt(r["value"]), "ci": interval(r["ci_low"], r["ci_high"])})
        main = board[(board["adapter"] == adapter) & (board["metric"] == primary)]
        r = main.iloc[0] if not main.empty else None
        wide.append({
            "adapter": adapter, "cells": cells,
            "rank": count(r["rank"]) if r is not None else "–",
            "rank_ci": interval(r["rank_ci_low"], r["rank_ci_high"], 0) if r is not None else "",
            "n": count(r["n"]) if r is not None else "–",
            "n_failed": count(r["n_failed"]) if r is not None else "–",
        })
    long = [[label(r.metric), DIRECTION_WORDS.get(results.direction(r.metric), ""), r.adapter,
             fmt(r.value), interval(r.ci_low, r.ci_high), count(r.rank),
             interval(r.rank_ci_low, r.rank_ci_high, 0), count(r.n), count(r.n_failed)]
            for r in board.sort_values(["metric", "rank"]).itertuples(index=False)]
    return {"primary": primary, "primary_label": label(primary),
            "headline": [(m, label(m), DIRECTION_WORDS.get(results.direction(m), ""))
                         for m in headline], "wide": wide, "long": long}


def comparison_rows(results: RunResults, task: str, metric: str) -> list[list[str]]:
    rows = _rows(results.comparisons, task=task, metric=metric)
    if rows.empty:
        return []
    out = []
    for r in rows.sort_values("p_holm", na_position="last").to_dict("records"):
        ci = interval(r.get("ci_low"), r.get("ci_high")) if "ci_low" in r else ""
        p_holm = float(r["p_holm"]) if r["p_holm"] == r["p_holm"] else math.nan
        out.append([f"{r['adapter_a']} vs {r['adapter_b']}", str(r["test"]),
                    fmt(r["estimate"]), ci, _p(r["p_value"]), _p(r["p_holm"]),
                    "yes" if p_holm < 0.05 else "no", count(r.get("n"))])
    return out


def _p(value: object) -> str:
    try:
        p = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    if math.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def classification_figures(results: RunResults, task: str,
                           colours: dict[str, str]) -> dict[str, Any]:
    """ROC, calibration, confusion matrices and (binary) decision curves on clean inputs."""
    if results.predictions is None:
        return {}
    datas = {a: curves.classification_data(results.predictions, task, a)
             for a in results.adapters}
    datas = {a: d for a, d in datas.items() if d is not None}
    if not datas:
        return {}
    first = next(iter(datas.values()))
    rocs = {a: c for a, d in datas.items() if (c := curves.roc(d)) is not None}
    out: dict[str, Any] = dict.fromkeys(("roc", "calibration", "confusion", "decision"))
    if rocs:
        title = "ROC curves" if first.binary else "ROC curves (macro-average one-vs-rest)"
        out["roc"] = plots.roc_plot(rocs, colours, title=title)
    out["calibration"] = plots.calibration_plot(
        {a: curves.calibration(d) for a, d in datas.items()}, colours)
    out["confusion"] = plots.confusion_plot({a: curves.confusion(d) for a, d in datas.items()},
                                            first.classes)
    decisions = {a: c for a, d in datas.items() if (c := curves.decision(d)) is not None}
    if decisions and first.positive is not None:
        out["decision"] = plots.decision_plot(decisions, colours, positive=first.positive)
    out["threshold_note"] = (f"positive class '{first.positive}', threshold 0.5" if first.binary
                             else "predicted class = highest probability")
    return out


def _examples(run_dir: Path, task: str, adapters: Sequence[str]) -> list[tuple[str, str, Path]]:
    """``examples/<task>_<adapter>_<case_id>.npz`` files as (adapter, case_id, path)."""
    folder = run_dir / "examples"
    if not folder.is_dir():
        return []
    found = []
    by_length = sorted(adapters, key=len, reverse=True)
    for path in sorted(folder.glob(f"{task}_*.npz")):
        rest = path.stem[len(task) + 1:]
        adapter = next((a for a in by_length if rest.startswith(f"{a}_")), None)
        if adapter is not None:
            found.append((adapter, rest[len(adapter) + 1:], path))
    return found[:MAX_EXAMPLES]


EXAMPLE_ARRAYS = ("t1c", "recurrence", "standard_plan", "model_plan")


def example_figure(adapter: str, case_id: str, path: Path) -> str:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in EXAMPLE_ARRAYS if k not in data]
            if missing:
                raise InputError(f"{path}: missing array(s) {', '.join(missing)}")
            arrays = {k: np.asarray(data[k]) for k in EXAMPLE_ARRAYS}
            spacing = (tuple(float(x) for x in np.asarray(data["spacing"]).ravel()[:2])
                       if "spacing" in data else (1.0, 1.0))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .npz file: {exc}") from None
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or arrays["t1c"].ndim != 2:
        raise InputError(f"{path}: arrays must be 2-D slices of one shape, got "
                         f"{ {k: a.shape for k, a in arrays.items()} }")
    return plots.example_slice_plot(arrays["t1c"], arrays["recurrence"],
                                    arrays["standard_plan"], arrays["model_plan"],
                                    title=f"{adapter}, case {case_id} (axial)",
                                    spacing=spacing)


def recurrence_figures(results: RunResults, task: str, colours: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"coverage": None}
    if results.per_case is not None:
        pairs = {}
        for adapter in results.adapters:
            standard, model = curves.paired_case_values(
                results.per_case, task, adapter, "coverage_all_standard", "coverage_all_model")
            if standard.size:
                pairs[adapter] = (standard, model)
        if pairs:
            out["coverage"] = plots.coverage_pairs_plot(pairs, colours,
                                                        metric="recurrence coverage (all)")
    out["examples"] = [{"caption": f"{adapter}, case {case_id}",
                        "svg": example_figure(adapter, case_id, path)}
                       for adapter, case_id, path in _examples(results.run_dir, task,
                                                               results.adapters)]
    return out


def _int(value: object) -> int:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(x) else round(x)


def site_figure(results: RunResults, task: str, metric: str,
                colours: dict[str, str]) -> str | None:
    rows = _rows(results.sites, task=task, metric=metric)
    if rows.empty:
        return None
    panels: dict[str, list[plots.ForestRow]] = {}
    notes: dict[str, str] = {}
    for adapter in results.adapters:
        mine = rows[rows["adapter"] == adapter]
        if mine.empty:
            continue
        het = mine[mine["site"] == HETEROGENEITY_SITE]
        sites = mine[mine["site"] != HETEROGENEITY_SITE].sort_values("site")
        panel = [plots.ForestRow(str(r.site), float(r.value), float(r.ci_low), float(r.ci_high),
                                 _int(r.n)) for r in sites.itertuples(index=False)]
        overall = _rows(results.leaderboard, task=task, metric=metric, adapter=adapter)
        if not overall.empty:
            o = overall.iloc[0]
            panel.append(plots.ForestRow("all sites", float(o["value"]), float(o["ci_low"]),
                                         float(o["ci_high"]), _int(o["n"]), overall=True))
        if not het.empty:
            h = het.iloc[0]
            notes[adapter] = f"I² = {fmt(100 * h['value'], 0)}%, Q p = {_p(h['ci_low'])}"
        if panel:
            panels[adapter] = panel
    if not panels:
        return None
    return plots.forest_plot(panels, colours, metric=label(metric), notes=notes)


def robustness_figure(results: RunResults, task: str, metric: str,
                      colours: dict[str, str]) -> str | None:
    rows = _rows(results.robustness, task=task, metric=metric)
    if rows.empty:
        return None
    rows = rows.assign(kind=rows["perturbation"].str.split("@").str[0])
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
    """Per adapter: the perturbation with the largest loss and its change."""
    rows = _rows(results.robustness, task=task, metric=metric)
    if rows.empty:
        return []
    sign = -1.0 if results.direction(metric) == "lower" else 1.0
    out = []
    for adapter in results.adapters:
        mine = rows[rows["adapter"] == adapter].dropna(subset=["delta"])
        if mine.empty:
            continue
        worst = mine.loc[(sign * mine["delta"]).idxmin()]
        out.append([adapter, str(worst["perturbation"]), fmt(worst["value"]),
                    fmt(worst["delta"]), interval(worst["delta_ci_low"], worst["delta_ci_high"])])
    return out


def plain_table(table: pd.DataFrame | None, **equal: str) -> dict[str, Any] | None:
    rows = _rows(table, **equal)
    if rows.empty:
        return None
    shown = rows.drop(columns=[c for c in equal if c in rows.columns])
    return {"headers": list(shown.columns),
            "rows": [[fmt(v) for v in r] for r in shown.itertuples(index=False)]}


def rank_figure(results: RunResults, task: str, colours: dict[str, str]) -> str | None:
    board = _rows(results.leaderboard, task=task)
    points = [plots.RankPoint(label(r.metric), r.adapter, float(r.rank), float(r.rank_ci_low),
                              float(r.rank_ci_high))
              for r in board.itertuples(index=False) if r.rank == r.rank]
    if len({p.adapter for p in points}) < 2:
        return None
    return plots.rank_stability_plot(points, colours)


def interval_figure(results: RunResults, task: str, headline: Sequence[str],
                    colours: dict[str, str]) -> str | None:
    board = _rows(results.leaderboard, task=task)
    panels = {}
    for metric in headline:
        rows = board[board["metric"] == metric]
        rows = rows.set_index("adapter").reindex([a for a in results.adapters
                                                  if a in set(rows["adapter"])])
        panels[label(metric)] = [(a, float(r["value"]), float(r["ci_low"]), float(r["ci_high"]))
                                 for a, r in rows.iterrows()]
    panels = {k: v for k, v in panels.items() if v}
    return plots.interval_plot(panels, colours) if panels else None


def task_section(results: RunResults, task: str, colours: dict[str, str]) -> dict[str, Any]:
    table = leaderboard_rows(results, task)
    primary = table["primary"]
    section: dict[str, Any] = {
        "task": task, "anchor": f"task-{task}", "table": table,
        "intervals": interval_figure(results, task, [m for m, _, _ in table["headline"]],
                                     colours),
        "comparisons": comparison_rows(results, task, primary),
        "sites": site_figure(results, task, primary, colours),
        "robustness": robustness_figure(results, task, primary, colours),
        "worst_case": worst_case_rows(results, task, primary),
        "reproducibility": plain_table(results.reproducibility, task=task)
        if results.reproducibility is not None and "task" in results.reproducibility.columns
        else None,
        "ranks": rank_figure(results, task, colours),
    }
    spatial = task in SPATIAL_TASKS
    section["recurrence"] = recurrence_figures(results, task, colours) if spatial else None
    section["classification"] = (None if spatial
                                 else classification_figures(results, task, colours))
    return section


# -- adapters and provenance ---------------------------------------------------------------------

def adapter_section(results: RunResults, adapter: str) -> dict[str, Any]:
    info = results.run.get("adapters", {}).get(adapter, {})
    card = info.get("card") or {}
    cost = _rows(results.cost, adapter=adapter)
    cost_rows = []
    for perturbation, rows in (cost.groupby("perturbation") if not cost.empty else []):
        cost_rows.append([str(perturbation), str(len(rows)), fmt(rows["wall_s"].sum(), 1),
                          fmt(rows["wall_s"].median(), 2), fmt(rows["cpu_s"].sum(), 1),
                          fmt(rows["peak_rss_mb"].max(), 0)])
    failures = _rows(results.failures, adapter=adapter)
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
