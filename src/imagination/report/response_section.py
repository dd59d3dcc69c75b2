"""The response tasks' report section, from the run's tables: each adapter's pathway (RANO
from truth, AI-RANO, models), the confusion matrices (``confusion.csv``), one-vs-rest
metrics per class (``response_classes.csv``) and the ROC curves (pseudoprogression ROC for
``progression_type``), with the classification figures of the task."""

from __future__ import annotations

from typing import Any

from imagination.report.markdown import count, fmt, interval
from imagination.report.tables import RunResults
from imagination.report.task_section import classification_figures
from imagination.tasks.response import PER_CLASS_METRICS as CLASS_METRICS


def response_figures(results: RunResults, task: str, colours: dict[str, str]) -> dict[str, Any]:
    out = classification_figures(results, task, colours)
    out["roc_title"] = ("Pseudoprogression ROC (positive: pseudoprogression)"
                        if task == "progression_type" else "ROC, macro one-vs-rest")
    confusion, classes_table = results.confusion, results.response_classes
    out["pathways"], out["matrices"] = [], []
    if confusion is not None:
        mine = confusion[confusion["task"] == task]
        for adapter, group in mine.groupby("adapter", sort=False):
            out["pathways"].append({"adapter": adapter, "pathway": group["pathway"].iloc[0]})
            labels = list(dict.fromkeys(group["truth"]))
            cells = {(r["truth"], r["predicted"]): int(r["count"])
                     for r in group.to_dict("records")}
            out["matrices"].append({
                "adapter": adapter, "classes": labels,
                "rows": [[t, *[cells.get((t, p), 0) for p in labels]] for t in labels],
                "n": sum(cells.values())})
    out["per_class"] = []
    if classes_table is not None:
        mine = classes_table[classes_table["task"] == task]
        for (cls, adapter), group in mine.groupby(["class", "adapter"], sort=False):
            by_metric = {r["metric"]: r for r in group.to_dict("records")}
            cells = [_cell(by_metric[m]) if m in by_metric else "–" for m in CLASS_METRICS]
            first = group.iloc[0]
            out["per_class"].append({"cls": cls, "adapter": adapter, "cells": cells,
                                     "n": count(first["n"]),
                                     "n_positive": count(first["n_positive"])})
    out["class_metrics"] = list(CLASS_METRICS)
    return out


def _cell(row: dict[str, Any]) -> str:
    return f"{fmt(row['value'])} {interval(row['ci_low'], row['ci_high'])}"
