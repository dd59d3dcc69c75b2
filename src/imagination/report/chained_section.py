"""The report's chained-models section, from ``chained.csv`` and ``per_case.csv``: each chained
model (its tumour mask made by another adapter) next to its twin ``<id>@reference`` (the same
model fed the reference segmentation), with the paired per-case difference chained − reference.

Per chained model and task the table shows the task's leaderboard metrics in headline order
(for a task whose per-case values are not leaderboard metrics, e.g. classification's
``p_true``, every metric of ``chained.csv``); the figure joins each case's reference value to
its chained value for the task's primary metric."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from imagination.report import plots
from imagination.report.markdown import count, fmt, interval
from imagination.report.sections import label, p_text, rows_where
from imagination.report.tables import CLEAN, RunResults, headline_metrics, metric_semantics


def _region(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _metric_order(results: RunResults, task: str, present: list[str]) -> list[str]:
    """The task's leaderboard metrics present in ``present`` (headline ones first), else all."""
    if task not in set(results.leaderboard["task"]):
        return present
    board = results.metrics(task)
    ordered = [m for m in headline_metrics(results, task) + board if m in present]
    return list(dict.fromkeys(ordered)) or present


def chained_rows(results: RunResults, rows: pd.DataFrame, task: str) -> list[list[str]]:
    """Table rows of one chained model and task: metric, chained, reference, difference
    [interval], sign-flip p, Wilcoxon p, n."""
    out = []
    metrics = _metric_order(results, task, list(dict.fromkeys(rows["metric"])))
    for metric in metrics:
        for r in rows[rows["metric"] == metric].to_dict("records"):
            region = _region(r.get("region"))
            name = label(metric) + (f" ({region})" if region else "")
            out.append([name, metric_semantics(metric).direction_words, fmt(r["chained_value"]),
                        fmt(r["reference_value"]),
                        f"{fmt(r['estimate'])} {interval(r['ci_low'], r['ci_high'])}",
                        p_text(r["p_value"]), p_text(r.get("p_wilcoxon")), count(r["n"])])
    return out


def paired_values(results: RunResults, task: str, metric: str, chained: str,
                  reference: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per case (both scored, clean inputs): the reference twin's and the chained model's
    value of ``metric`` (primary region of a region-scored task)."""
    table = results.per_case
    if table is None:
        return None
    rows = rows_where(table, task=task, metric=metric, perturbation=CLEAN)
    rows = rows[rows["adapter"].isin([chained, reference])]
    wide = rows.pivot_table(index="case_id", columns="adapter", values="value",
                            aggfunc="first")
    if chained not in wide or reference not in wide:
        return None
    wide = wide[[reference, chained]].dropna().sort_index()
    if wide.empty:
        return None
    return wide[reference].to_numpy(float), wide[chained].to_numpy(float)


def chained_section(results: RunResults) -> list[dict[str, Any]]:
    """One entry per chained model: its upstream and reference twin, per task the table of
    paired differences and the per-case figure of the primary metric."""
    table = results.regional.get("chained", results.chained)
    if table is None or table.empty:
        return []
    models = []
    keys = ["adapter", "reference_adapter", "upstream"]
    order = {a: i for i, a in enumerate(results.adapters)}
    for (chained, reference, upstream), of_model in sorted(
            table.groupby(keys, sort=False), key=lambda item: order.get(item[0][0], len(order))):
        tasks = [t for t in results.tasks if t in set(of_model["task"])]
        tasks += sorted(set(of_model["task"]) - set(tasks))
        entries = []
        for task in tasks:
            rows = of_model[of_model["task"] == task]
            metric = _metric_order(results, task, list(dict.fromkeys(rows["metric"])))[0]
            pairs = paired_values(results, task, metric, str(chained), str(reference))
            figure = None
            if pairs is not None:
                m = metric_semantics(metric)
                bounded = m.range[0] > -np.inf and m.range[1] < np.inf
                figure = plots.paired_plot(
                    {str(chained): pairs}, metric=label(metric),
                    labels=("fed the reference\nsegmentation", f"fed {upstream}"),
                    better=m.better, limits=m.range if bounded else None)
            entries.append({"task": task, "metric": label(metric),
                            "rows": chained_rows(results, rows, task), "figure": figure})
        models.append({"adapter": str(chained), "reference": str(reference),
                       "upstream": str(upstream), "tasks": entries})
    return models


def chained_headline(results: RunResults) -> list[list[str]]:
    """``summary.md`` rows: per chained model and task, its primary metric fed the upstream
    segmentation and fed the reference, and the paired difference."""
    table = results.chained
    if table is None or table.empty:
        return []
    out = []
    for (chained, upstream, task), rows in table.groupby(["adapter", "upstream", "task"],
                                                         sort=True):
        metric = _metric_order(results, str(task), list(dict.fromkeys(rows["metric"])))[0]
        r = rows[rows["metric"] == metric].iloc[0]
        out.append([str(chained), str(upstream), str(task), label(metric),
                    fmt(r["chained_value"]), fmt(r["reference_value"]),
                    f"{fmt(r['estimate'])} {interval(r['ci_low'], r['ci_high'])}",
                    p_text(r["p_value"]), count(r["n"])])
    return out
