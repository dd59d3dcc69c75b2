"""The segmentation task's report section, from the run's tables: per-region leaderboards with
intervals, per-case Dice as dots, predicted vs true volume with Bland–Altman limits, per-site
forest plots per region and example slices with truth and prediction contours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imagination.cohort.vocabulary import REGION_NAMES, SCORED_REGIONS
from imagination.errors import InputError
from imagination.report import plots
from imagination.report.examples import example_files
from imagination.report.markdown import count, fmt, interval
from imagination.report.sections import as_int, label, rows_where
from imagination.report.segmentation_plots import (
    bland_altman_limits,
    case_dots_plot,
    segmentation_slice_plot,
    volume_agreement_plot,
)
from imagination.report.tables import HETEROGENEITY_SITE, RunResults

CLEAN = "clean"
#: metrics of the per-region leaderboard tables, in order (those present)
TABLE_METRICS = ("dice", "hd95", "nsd", "lesion_dice", "lesion_hd95", "lesion_f1",
                 "abs_volume_diff_ml")
#: the metric ranking the adapters in each region's table
PRIMARY = "dice"
SITE_METRICS = ("dice",)
#: regions with per-site forest plots (the BraTS three)
SITE_REGIONS = ("WT", "TC", "ET")


def _regional(results: RunResults, name: str) -> pd.DataFrame | None:
    """Every region's rows of a table (``RunResults.regional``), else the table itself."""
    return results.regional.get(name, getattr(results, name))


def regions_of(results: RunResults, task: str) -> list[str]:
    board = rows_where(_regional(results, "leaderboard"), task=task)
    if "region" not in board.columns:
        return []
    present = {str(r) for r in board["region"].dropna()}
    return [r for r in SCORED_REGIONS if r in present]


def region_table(results: RunResults, task: str, region: str) -> dict[str, Any]:
    """Adapters × metrics of one region (value and interval), ranked by Dice."""
    board = rows_where(_regional(results, "leaderboard"), task=task, region=region)
    metrics = [m for m in TABLE_METRICS if m in set(board["metric"])]
    primary = board[board["metric"] == PRIMARY].sort_values("rank", na_position="last")
    order = list(primary["adapter"]) + [a for a in results.adapters
                                        if a in set(board["adapter"])
                                        and a not in set(primary["adapter"])]
    rows = []
    for adapter in order:
        cells = []
        for metric in metrics:
            hit = board[(board["adapter"] == adapter) & (board["metric"] == metric)]
            if hit.empty:
                cells.append({"value": "–", "ci": ""})
                continue
            r = hit.iloc[0]
            cells.append({"value": fmt(r["value"]), "ci": interval(r["ci_low"], r["ci_high"])})
        main = primary[primary["adapter"] == adapter]
        r = main.iloc[0] if not main.empty else None
        rows.append({"adapter": adapter, "cells": cells,
                     "rank": count(r["rank"]) if r is not None else "–",
                     "rank_ci": interval(r["rank_ci_low"], r["rank_ci_high"], 0)
                     if r is not None else "",
                     "n": count(r["n"]) if r is not None else "–",
                     "n_failed": count(r["n_failed"]) if r is not None else "–"})
    return {"region": region, "name": REGION_NAMES.get(region, region),
            "metrics": [{"name": m, "label": label(m), "direction": results.direction(m)}
                        for m in metrics], "rows": rows}


def _per_case(results: RunResults, task: str) -> pd.DataFrame:
    table = rows_where(_regional(results, "per_case"), task=task, perturbation=CLEAN)
    return table if "region" in table.columns else table.iloc[0:0]


def dice_dots(results: RunResults, task: str, regions: list[str],
              colours: dict[str, str]) -> str | None:
    table = _per_case(results, task)
    panels = {}
    for region in regions:
        rows = table[(table["region"] == region) & (table["metric"] == "dice")]
        if not rows.empty:
            panels[region] = {a: rows.loc[rows["adapter"] == a, "value"].to_numpy(float)
                              for a in results.adapters if (rows["adapter"] == a).any()}
    return case_dots_plot(panels, colours, metric="Dice (per case)") if panels else None


def volume_pairs(results: RunResults, task: str, region: str
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per adapter: (predicted, true) volume in mL of every clean case it scored."""
    table = _per_case(results, task)
    table = table[table["region"] == region]
    out = {}
    for adapter in results.adapters:
        mine = table[table["adapter"] == adapter]
        wide = mine.pivot_table(index="case_id", columns="metric", values="value")
        if {"volume_ml_pred", "volume_ml_true"} <= set(wide.columns):
            out[adapter] = (wide["volume_ml_pred"].to_numpy(float),
                            wide["volume_ml_true"].to_numpy(float))
    return out


def volume_rows(pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict[str, str]]:
    rows = []
    for adapter, (pred, true) in pairs.items():
        ok = np.isfinite(pred) & np.isfinite(true)
        if not ok.any():
            continue
        bias, low, high = bland_altman_limits(pred[ok], true[ok])
        rows.append({"adapter": adapter, "n": str(int(ok.sum())), "bias": fmt(bias, 2),
                     "loa": interval(low, high, 2)})
    return rows


def site_figure(results: RunResults, task: str, region: str, metric: str,
                colours: dict[str, str]) -> str | None:
    rows = rows_where(_regional(results, "sites"), task=task, metric=metric, region=region)
    if rows.empty:
        return None
    panels: dict[str, list[plots.ForestRow]] = {}
    for adapter in results.adapters:
        mine = rows[(rows["adapter"] == adapter) & (rows["site"] != HETEROGENEITY_SITE)]
        if mine.empty:
            continue
        panel = [plots.ForestRow(str(r.site), float(r.value), float(r.ci_low), float(r.ci_high),
                                 as_int(r.n)) for r in mine.sort_values("site")
                 .itertuples(index=False)]
        overall = rows_where(_regional(results, "leaderboard"), task=task, metric=metric,
                             adapter=adapter, region=region)
        if not overall.empty:
            o = overall.iloc[0]
            panel.append(plots.ForestRow("all sites", float(o["value"]), float(o["ci_low"]),
                                         float(o["ci_high"]), as_int(o["n"]), overall=True))
        panels[adapter] = panel
    if not panels:
        return None
    return plots.forest_plot(panels, colours, metric=f"{region} {label(metric)}")


def example_figure(adapter: str, case_id: str, path: Path) -> str:
    """An example file (``image``, ``truth_<R>``, ``pred_<R>``, ``spacing``) as SVG."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "image" not in data:
                raise InputError(f"{path}: missing array image")
            image = np.asarray(data["image"])
            truth = {k[6:]: np.asarray(data[k]) for k in data.files if k.startswith("truth_")}
            pred = {k[5:]: np.asarray(data[k]) for k in data.files if k.startswith("pred_")}
            spacing = (tuple(float(x) for x in np.asarray(data["spacing"]).ravel()[:2])
                       if "spacing" in data else (1.0, 1.0))
            modality = str(data["image_modality"]) if "image_modality" in data else "image"
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .npz file: {exc}") from None
    if any(a.shape != image.shape for a in (*truth.values(), *pred.values())):
        raise InputError(f"{path}: arrays must be 2-D slices of one shape")
    return segmentation_slice_plot(image, truth, pred, spacing=spacing,
                                   title=f"{adapter}, case {case_id} ({modality}, axial)")


def segmentation_section(results: RunResults, task: str,
                         colours: dict[str, str]) -> dict[str, Any]:
    """Everything the segmentation template shows (``sections/segmentation.html.j2``)."""
    regions = regions_of(results, task)
    volume = volume_pairs(results, task, "WT") if "WT" in regions else {}
    return {
        "regions": [region_table(results, task, r) for r in regions],
        "dice_dots": dice_dots(results, task, regions, colours),
        "volume": volume_agreement_plot(volume, colours, region="WT") if volume else None,
        "volume_rows": volume_rows(volume),
        "sites": [{"region": r, "metric": label(m), "svg": svg}
                  for r in regions if r in SITE_REGIONS for m in SITE_METRICS
                  if (svg := site_figure(results, task, r, m, colours)) is not None],
        "examples": [{"caption": f"{adapter}, case {case_id}",
                      "svg": example_figure(adapter, case_id, path)}
                     for adapter, case_id, path in example_files(results.run_dir, task,
                                                                 results.adapters)],
    }
