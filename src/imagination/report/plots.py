"""The report's figures: each function takes plain data and returns SVG text (matplotlib, no
pyplot state, Agg-free vector output). Colours per adapter are passed in so that one adapter
has one colour throughout a report. Output is deterministic (fixed hash salt, no date)."""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from imagination.metrics.decision import DecisionCurve
from imagination.report.curves import CalibrationCurve, RocCurve

#: Okabe & Ito (2008) colour-blind-safe palette (black left for pooled estimates); each colour
#: is paired with its own marker so that no figure relies on colour alone.
PALETTE: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#7F7F7F", "#F0E442",
)
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Slots an adapter without a fixed colour may hash to (grey is kept for no-skill references,
#: yellow, faint on white, is the last resort).
_HASHED = 6
#: Built-in adapters keep one colour in every run (fk-growth blue, fk-growth-pet vermillion:
#: apart under deuteranopia; no-skill references grey). Slots are distinct within a task
#: family and shared across families, whose figures never meet.
FIXED_SLOTS: dict[str, int] = {
    "fk-growth": 0, "fk-growth-pet": 3, "margin-15mm": 1, "pet-btv": 2, "random": 6,
    "radiomics-lr": 0, "age-volume-lr": 1, "t2flair-mismatch": 2, "prevalence": 6,
    "intensity-rule-seg": 0, "empty": 6,
}
_STYLE = {
    "svg.fonttype": "none", "svg.hashsalt": "imagination-report", "font.size": 9,
    "font.family": "DejaVu Sans", "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 10, "legend.fontsize": 8, "legend.frameon": False,
}


def adapter_colours(adapters: Sequence[str]) -> dict[str, str]:
    """One Okabe–Ito colour per adapter, the same in every run: built-ins by
    :data:`FIXED_SLOTS`, others by a hash of the name (the next free slot on a clash)."""
    taken: dict[str, int] = {}
    for adapter in adapters:
        if adapter in FIXED_SLOTS:
            taken[adapter] = FIXED_SLOTS[adapter]
    for adapter in sorted(a for a in adapters if a not in taken):
        start = int(hashlib.sha256(adapter.encode()).hexdigest(), 16) % _HASHED
        order = [(start + i) % _HASHED for i in range(_HASHED)] + list(range(_HASHED,
                                                                             len(PALETTE)))
        free = [slot for slot in order if slot not in taken.values()]
        taken[adapter] = free[0] if free else start
    return {a: PALETTE[taken[a]] for a in adapters}


def marker(colour: str) -> str:
    """The marker paired with a palette colour (``o`` for any other colour)."""
    return MARKERS[PALETTE.index(colour)] if colour in PALETTE else "o"


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    with mpl.rc_context(_STYLE):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    with mpl.rc_context(_STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def _grid(n: int, *, cols: int, panel: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    with mpl.rc_context(_STYLE):
        fig = _figure(panel[0] * cols, panel[1] * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def roc_plot(curves: Mapping[str, RocCurve], colours: Mapping[str, str], *,
             title: str = "ROC curves") -> str:
    with mpl.rc_context(_STYLE):
        fig = _figure(4.6, 4.0)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--", label="chance")
        for adapter, curve in curves.items():
            ax.plot(curve.fpr, curve.tpr, color=colours[adapter], lw=1.6,
                    marker=marker(colours[adapter]), ms=4, markevery=0.1,
                    label=f"{adapter} (AUC {curve.auc:.3f})")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 − specificity (false-positive rate)",
               ylabel="sensitivity (true-positive rate)", title=title, aspect="equal")
        ax.legend(loc="lower right")
        return _svg(fig)


def calibration_plot(curves: Mapping[str, CalibrationCurve], colours: Mapping[str, str]) -> str:
    with mpl.rc_context(_STYLE):
        fig = _figure(4.6, 4.0)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--", label="perfect calibration")
        label = "predicted probability"
        for adapter, curve in curves.items():
            sizes = 12 + 60 * curve.counts / max(1, curve.counts.max())
            ax.plot(curve.predicted, curve.observed, color=colours[adapter], lw=1.2)
            ax.scatter(curve.predicted, curve.observed, s=sizes, color=colours[adapter],
                       label=adapter, zorder=3)
            label = curve.label
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel=f"mean {label} (10 bins)",
               ylabel="observed frequency", title="Calibration (marker area ∝ cases in bin)",
               aspect="equal")
        ax.legend(loc="upper left")
        return _svg(fig)


def confusion_plot(matrices: Mapping[str, np.ndarray], classes: Sequence[str]) -> str:
    k = len(classes)
    side = 1.1 + 0.45 * k
    fig, axes = _grid(len(matrices), cols=3, panel=(side + 0.6, side))
    with mpl.rc_context(_STYLE):
        for ax, (adapter, matrix) in zip(axes, matrices.items(), strict=True):
            totals = matrix.sum(axis=1, keepdims=True)
            share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
            ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
            for (i, j), count in np.ndenumerate(matrix):
                ax.text(j, i, str(int(count)), ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.6 else "black")
            short = [c[:10] for c in classes]
            ax.set_xticks(range(k), short, rotation=45 if k > 2 else 0, ha="right" if k > 2
                          else "center")
            ax.set_yticks(range(k), short)
            ax.set(xlabel="predicted", ylabel="true", title=adapter)
            ax.spines[:].set_visible(False)
        return _svg(fig)


def decision_plot(curves: Mapping[str, DecisionCurve], colours: Mapping[str, str], *,
                  positive: str) -> str:
    with mpl.rc_context(_STYLE):
        fig = _figure(5.4, 3.8)
        ax = fig.add_subplot()
        first = next(iter(curves.values()))
        ax.plot(first.thresholds, first.treat_all, color="#666", lw=1.0, label="treat all")
        ax.plot(first.thresholds, first.treat_none, color="#222", lw=1.0, ls=":",
                label="treat none")
        top = float(first.treat_all.max())
        for adapter, curve in curves.items():
            ax.plot(curve.thresholds, curve.model, color=colours[adapter], lw=1.6, label=adapter,
                    marker=marker(colours[adapter]), ms=4, markevery=0.1)
            top = max(top, float(np.nanmax(curve.model)))
        span = max(top, 0.05)
        ax.set(xlim=(0, 1), ylim=(-0.25 * span, 1.1 * span), xlabel="threshold probability",
               ylabel="net benefit", title=f"Decision curves (acting on '{positive}')")
        ax.legend(loc="upper right")
        return _svg(fig)


@dataclass(frozen=True)
class ForestRow:
    label: str
    value: float
    low: float
    high: float
    n: int
    overall: bool = False


def forest_plot(panels: Mapping[str, Sequence[ForestRow]], colours: Mapping[str, str], *,
                metric: str, notes: Mapping[str, str] | None = None) -> str:
    """One panel per adapter: per-site estimates with intervals and the pooled value."""
    height = 0.9 + 0.28 * max(len(rows) for rows in panels.values())
    fig, axes = _grid(len(panels), cols=3, panel=(3.3, height))
    with mpl.rc_context(_STYLE):
        for ax, (adapter, rows) in zip(axes, panels.items(), strict=True):
            y = np.arange(len(rows))[::-1]
            for yi, row in zip(y, rows, strict=True):
                colour = "#000" if row.overall else colours[adapter]
                if not (math.isnan(row.low) or math.isnan(row.high)):
                    ax.plot([row.low, row.high], [yi, yi], color=colour, lw=1.4)
                ax.plot([row.value], [yi], marker="D" if row.overall else marker(colour),
                        color=colour,
                        ms=6 if row.overall else 4)
            ax.set_yticks(y, [f"{r.label} (n={r.n})" for r in rows])
            title = adapter + (f"\n{notes[adapter]}" if notes and adapter in notes else "")
            ax.set(xlabel=metric, title=title)
        return _svg(fig)


def coverage_pairs_plot(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                        metric: str) -> str:
    """Per case, a line from the standard plan's coverage to the model plan's (blue: model
    covers more, vermillion dashed: less, grey: equal); the black line joins the means."""
    fig, axes = _grid(len(pairs), cols=4, panel=(2.5, 3.2))
    with mpl.rc_context(_STYLE):
        for ax, (adapter, (standard, model)) in zip(axes, pairs.items(), strict=True):
            for s, m in zip(standard, model, strict=True):
                colour = "#0072B2" if m > s else "#D55E00" if m < s else "#aaa"
                ax.plot([0, 1], [s, m], color=colour, lw=0.8, alpha=0.7, ms=2.5,
                        marker="^" if m > s else "v" if m < s else "o",
                        ls="-" if m >= s else "--")
            better = int(np.sum(model > standard))
            worse = int(np.sum(model < standard))
            ax.plot([0, 1], [np.mean(standard), np.mean(model)], color="#111", lw=2.6,
                    marker="D", ms=5, label="mean")
            ax.set_xticks([0, 1], ["standard\n15 mm", "model"])
            ax.set(xlim=(-0.2, 1.2), ylim=(-0.03, 1.03), ylabel=metric,
                   title=f"{adapter}\n↑{better} ↓{worse} ={len(model) - better - worse}")
        return _svg(fig)


def paired_plot(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], *, metric: str,
                labels: tuple[str, str], better: Callable[[float, float], bool],
                limits: tuple[float, float] | None = None) -> str:
    """Per panel and case, a line from the left value to the right one (blue: the right one is
    better by ``better(right, left)``, vermillion dashed: worse, grey: equal); the black line
    joins the means. ``limits``: the metric's range (bounded metrics)."""
    fig, axes = _grid(len(pairs), cols=4, panel=(2.7, 3.2))
    with mpl.rc_context(_STYLE):
        for ax, (name, (left, right)) in zip(axes, pairs.items(), strict=True):
            up = down = 0
            for a, b in zip(left, right, strict=True):
                gain, loss = better(b, a), better(a, b)
                up, down = up + gain, down + loss
                ax.plot([0, 1], [a, b], color="#0072B2" if gain else "#D55E00" if loss
                        else "#aaa", lw=0.8, alpha=0.7, ms=2.5,
                        marker="^" if gain else "v" if loss else "o", ls="--" if loss else "-")
            ax.plot([0, 1], [np.mean(left), np.mean(right)], color="#111", lw=2.6,
                    marker="D", ms=5, label="mean")
            ax.set_xticks([0, 1], list(labels))
            ax.set(xlim=(-0.2, 1.2), ylabel=metric,
                   title=f"{name}\nbetter {up} · worse {down} · equal {len(left) - up - down}")
            if limits is not None:
                span = limits[1] - limits[0]
                ax.set_ylim(limits[0] - 0.03 * span, limits[1] + 0.03 * span)
        return _svg(fig)


def example_slice_plot(t1c: np.ndarray, recurrence: np.ndarray, standard_plan: np.ndarray,
                       model_plan: np.ndarray, *, title: str,
                       spacing: tuple[float, float] = (1.0, 1.0)) -> str:
    """An axial slice: T1c, recurrence filled red, standard plan and model plan as contours.
    ``spacing`` (mm along the slice's two axes) sets the pixel aspect ratio."""
    with mpl.rc_context(_STYLE):
        fig = _figure(4.4, 4.4)
        ax = fig.add_subplot()
        image = np.asarray(t1c, float).T  # RAS+ (x, y) -> rows = y for display
        low, high = np.percentile(image, [1, 99.5]) if image.size else (0, 1)
        aspect = spacing[1] / spacing[0] if spacing[0] > 0 else 1.0
        ax.imshow(image, cmap="gray", origin="lower", vmin=low, vmax=high,
                  interpolation="nearest", aspect=aspect)
        rec = np.ma.masked_where(np.asarray(recurrence).T == 0, np.asarray(recurrence).T)
        ax.imshow(rec, cmap=mpl.colors.ListedColormap(["#ff2a2a"]), alpha=0.55,
                  origin="lower", interpolation="nearest", aspect=aspect)
        handles = []
        for mask, colour, name in ((standard_plan, "#ffd700", "standard plan (15 mm)"),
                                   (model_plan, "#00e5ff", "model plan (same volume)")):
            mask = np.asarray(mask, float).T
            if mask.max() > 0:
                ax.contour(mask, levels=[0.5], colors=[colour], linewidths=1.3,
                           origin="lower")
            handles.append(mpl.lines.Line2D([], [], color=colour, lw=1.5, label=name))
        handles.append(mpl.patches.Patch(color="#ff2a2a", alpha=0.55, label="recurrence"))
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  fontsize=7)
        ax.set_axis_off()
        ax.set_title(title)
        return _svg(fig)


@dataclass(frozen=True)
class RobustnessSeries:
    severity: np.ndarray
    delta: np.ndarray
    low: np.ndarray
    high: np.ndarray


def robustness_plot(panels: Mapping[str, Mapping[str, RobustnessSeries]],
                    colours: Mapping[str, str], *, metric: str) -> str:
    """One panel per perturbation kind: change of the metric vs severity, one line per adapter."""
    fig, axes = _grid(len(panels), cols=3, panel=(3.2, 2.8))
    with mpl.rc_context(_STYLE):
        for ax, (kind, series) in zip(axes, panels.items(), strict=True):
            ax.axhline(0, color="#999", lw=0.8)
            for adapter, s in series.items():
                x = np.concatenate([[0], s.severity])
                ax.plot(x, np.concatenate([[0], s.delta]), color=colours[adapter], lw=1.5,
                        marker=marker(colours[adapter]), ms=4, label=adapter)
                ax.fill_between(x, np.concatenate([[0], s.low]), np.concatenate([[0], s.high]),
                                color=colours[adapter], alpha=0.15, lw=0)
            ax.set(xlabel="severity (0 = clean)", ylabel=f"Δ {metric} vs clean", title=kind)
            ax.set_xticks(range(0, 6))
        axes[0].legend(loc="lower left")
        return _svg(fig)


@dataclass(frozen=True)
class RankPoint:
    metric: str
    adapter: str
    rank: float
    low: float
    high: float


def rank_stability_plot(points: Sequence[RankPoint], colours: Mapping[str, str],
                        level: str = "95%") -> str:
    """Rank (1 = best) per metric with its bootstrap interval, one line per adapter."""
    metrics = list(dict.fromkeys(p.metric for p in points))
    adapters = list(dict.fromkeys(p.adapter for p in points))
    with mpl.rc_context(_STYLE):
        fig = _figure(max(5.0, 1.1 * len(metrics) + 2.5), 3.6)
        ax = fig.add_subplot()
        offsets = np.linspace(-0.25, 0.25, len(adapters)) if len(adapters) > 1 else [0.0]
        for offset, adapter in zip(offsets, adapters, strict=True):
            mine = [p for p in points if p.adapter == adapter]
            x = np.asarray([metrics.index(p.metric) for p in mine], float) + offset
            ranks = np.asarray([p.rank for p in mine], float)
            low = ranks - np.asarray([p.low for p in mine], float)
            high = np.asarray([p.high for p in mine], float) - ranks
            ax.errorbar(x, ranks, yerr=[np.nan_to_num(low), np.nan_to_num(high)],
                        fmt=marker(colours[adapter]),
                        color=colours[adapter], ms=6, elinewidth=2.5, capsize=4, label=adapter)
        ax.set_xticks(range(len(metrics)), [textwrap.fill(m, 14) for m in metrics])
        ax.set_xlim(-0.6, len(metrics) - 0.4)
        ax.set_yticks(range(1, len(adapters) + 1))
        ax.set_ylim(len(adapters) + 0.5, 0.5)
        ax.set(ylabel="rank (1 = best)")
        fig.suptitle(f"Rank stability (bootstrap {level} rank interval)", fontsize=10)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
        return _svg(fig)


def interval_plot(panels: Mapping[str, Sequence[tuple[str, float, float, float]]],
                  colours: Mapping[str, str]) -> str:
    """Dot-and-whisker per adapter (value, CI low, CI high), one panel per metric."""
    height = 0.8 + 0.3 * max(len(rows) for rows in panels.values())
    fig, axes = _grid(len(panels), cols=3, panel=(3.2, height))
    with mpl.rc_context(_STYLE):
        for ax, (metric, rows) in zip(axes, panels.items(), strict=True):
            y = np.arange(len(rows))[::-1]
            for yi, (adapter, value, low, high) in zip(y, rows, strict=True):
                ax.plot([low, high], [yi, yi], color=colours[adapter], lw=1.6)
                ax.plot([value], [yi], marker(colours[adapter]), color=colours[adapter], ms=5)
            ax.set_yticks(y, [r[0] for r in rows])
            ax.set_title(metric)
        return _svg(fig)


def bar_plot(counts: Mapping[str, int], *, title: str, xlabel: str) -> str:
    with mpl.rc_context(_STYLE):
        fig = _figure(4.2, 0.8 + 0.28 * len(counts))
        ax = fig.add_subplot()
        labels = list(counts)
        y = np.arange(len(labels))[::-1]
        ax.barh(y, [counts[k] for k in labels], color="#4c72b0")
        for yi, label in zip(y, labels, strict=True):
            ax.text(counts[label], yi, f" {counts[label]}", va="center", fontsize=8)
        ax.set_yticks(y, labels)
        ax.set(xlabel=xlabel, title=title)
        return _svg(fig)
