"""One task's report section as plain data: leaderboard tables, pairwise comparisons and the
figures (ROC, calibration, confusion, decision curves or recurrence coverage, per-site forest,
robustness, rank stability)."""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Any

from imagination.report import curves, plots
from imagination.report.examples import example_figure, example_files
from imagination.report.markdown import count, fmt, interval, with_region
from imagination.report.robustness_section import robustness_section
from imagination.report.sections import (
    MAX_HEADLINE,
    as_int,
    direction_words,
    label,
    p_text,
    plain_table,
    rows_where,
)
from imagination.report.tables import (
    HETEROGENEITY_SITE,
    RunResults,
    headline_metrics,
    primary_metric,
    result_flags,
)
from imagination.tasks.registry import is_task, kind_of


def _headline(results: RunResults, task: str) -> list[str]:
    return headline_metrics(results, task)[:MAX_HEADLINE]


def leaderboard_rows(results: RunResults, task: str) -> dict[str, Any]:
    """Wide headline table (adapters × headline metrics) and the full long table."""
    board = rows_where(results.leaderboard, task=task)
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
                cells.append({"value": "–", "ci": "", "flags": []})
                continue
            r = row.iloc[0]
            cells.append({"value": fmt(r["value"]), "ci": interval(r["ci_low"], r["ci_high"]),
                          "flags": result_flags(results, task, metric, r["value"], r["ci_low"],
                                                r["ci_high"], r["n"])})
        main = board[(board["adapter"] == adapter) & (board["metric"] == primary)]
        r = main.iloc[0] if not main.empty else None
        wide.append({
            "adapter": adapter, "cells": cells,
            "rank": count(r["rank"]) if r is not None else "–",
            "rank_ci": interval(r["rank_ci_low"], r["rank_ci_high"], 0) if r is not None else "",
            "n": count(r["n"]) if r is not None else "–",
            "n_failed": count(r["n_failed"]) if r is not None else "–",
        })
    long = [[label(r.metric), direction_words(r.metric), r.adapter,
             fmt(r.value), interval(r.ci_low, r.ci_high), count(r.rank),
             interval(r.rank_ci_low, r.rank_ci_high, 0), count(r.n), count(r.n_failed),
             "; ".join(result_flags(results, task, r.metric, r.value, r.ci_low, r.ci_high, r.n))]
            for r in board.sort_values(["metric", "rank"]).itertuples(index=False)]
    return {"primary": primary, "primary_label": label(primary),
            "headline": [(m, label(m), direction_words(m))
                         for m in headline], "wide": wide, "long": long}


def comparison_rows(results: RunResults, task: str, metric: str) -> list[list[str]]:
    rows = rows_where(results.comparisons, task=task, metric=metric)
    if rows.empty:
        return []
    out = []
    for r in rows.sort_values("p_holm", na_position="last").to_dict("records"):
        ci = interval(r.get("ci_low"), r.get("ci_high")) if "ci_low" in r else ""
        p_holm = float(r["p_holm"]) if r["p_holm"] == r["p_holm"] else math.nan
        out.append([f"{r['adapter_a']} vs {r['adapter_b']}", str(r["test"]),
                    fmt(r["estimate"]), ci, p_text(r["p_value"]), p_text(r["p_holm"]),
                    "yes" if p_holm < results.alpha else "no", count(r.get("n"))])
    return out


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
            out["coverage"] = plots.coverage_pairs_plot(pairs, metric="recurrence coverage (all)")
    out["examples"] = [{"caption": f"{adapter}, case {case_id}",
                        "svg": example_figure(adapter, case_id, path)}
                       for adapter, case_id, path in example_files(results.run_dir, task,
                                                               results.adapters)]
    return out


def site_figure(results: RunResults, task: str, metric: str,
                colours: dict[str, str]) -> str | None:
    rows = rows_where(results.sites, task=task, metric=metric)
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
                                 as_int(r.n)) for r in sites.itertuples(index=False)]
        overall = rows_where(results.leaderboard, task=task, metric=metric, adapter=adapter)
        if not overall.empty:
            o = overall.iloc[0]
            panel.append(plots.ForestRow("all sites", float(o["value"]), float(o["ci_low"]),
                                         float(o["ci_high"]), as_int(o["n"]), overall=True))
        if not het.empty:
            h = het.iloc[0]
            q = p_text(h["ci_low"])
            q = q if q.startswith("<") else f"= {q}"
            notes[adapter] = f"I² = {fmt(100 * h['value'], 0)}%, Q p {q}"
        if panel:
            panels[adapter] = panel
    if not panels:
        return None
    return plots.forest_plot(panels, colours, metric=label(metric), notes=notes)


def rank_figure(results: RunResults, task: str, colours: dict[str, str]) -> str | None:
    board = rows_where(results.leaderboard, task=task)
    points = [plots.RankPoint(label(r.metric), r.adapter, float(r.rank), float(r.rank_ci_low),
                              float(r.rank_ci_high))
              for r in board.itertuples(index=False) if r.rank == r.rank]
    if len({p.adapter for p in points}) < 2:
        return None
    return plots.rank_stability_plot(points, colours, level=results.level)


def interval_figure(results: RunResults, task: str, headline: Sequence[str],
                    colours: dict[str, str]) -> str | None:
    board = rows_where(results.leaderboard, task=task)
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
        "robustness": robustness_section(results, task, primary, colours),
        "reproducibility": plain_table(results.reproducibility, task=task)
        if results.reproducibility is not None and "task" in results.reproducibility.columns
        else None,
        "ranks": rank_figure(results, task, colours),
    }
    section.update(kind_figures(results, task, colours))
    return section


def kind_figures(results: RunResults, task: str, colours: dict[str, str]) -> dict[str, Any]:
    """The figures of the task's kind (``TaskKind.report_section``) and the template that
    shows them (``templates/sections/<family>.html.j2``); none for an unknown task."""
    if not is_task(task):
        return {"figures": None, "figures_template": None}
    kind = kind_of(task)
    module, _, function = kind.report_section.partition(":")
    build = getattr(importlib.import_module(module), function)
    return {"figures": build(results, task, colours),
            "figures_template": f"sections/{kind.family}.html.j2"}


def at_a_glance(results: RunResults, task: str) -> dict[str, str] | None:
    """The best adapter on the task's headline metric and how it compares with the runner-up."""
    primary = primary_metric(results, task)
    board = rows_where(results.leaderboard, task=task, metric=primary)
    board = board.sort_values("rank", na_position="last")
    if board.empty:
        return None
    best = board.iloc[0]
    row = {"task": task, "anchor": f"task-{task}", "metric": with_region(label(primary), board),
           "best": str(best["adapter"]), "value": fmt(best["value"]),
           "ci": interval(best["ci_low"], best["ci_high"]), "n": count(best["n"]),
           "runner_up": "–", "verdict": "only adapter",
           "flags": result_flags(results, task, primary, best["value"], best["ci_low"],
                                 best["ci_high"], best["n"])}
    if len(board) < 2:
        return row
    second = board.iloc[1]
    row["runner_up"] = f"{second['adapter']} {fmt(second['value'])}"
    pairs = rows_where(results.comparisons, task=task, metric=primary)
    if pairs.empty:
        row["verdict"] = "no paired test"
        return row
    names = {str(best["adapter"]), str(second["adapter"])}
    match = pairs[[{a, b} == names for a, b in zip(pairs["adapter_a"], pairs["adapter_b"],
                                                    strict=True)]]
    if match.empty:
        row["verdict"] = "no paired test"
        return row
    p = p_text(match.iloc[0]["p_holm"])
    p_holm = float(match.iloc[0]["p_holm"])
    significant = p_holm == p_holm and p_holm < results.alpha
    shown = "< 0.001" if p.startswith("<") else f"= {p}"
    row["verdict"] = (f"better than the runner-up (Holm p {shown})" if significant
                      else f"not distinguishable from the runner-up (Holm p {shown})")
    return row
