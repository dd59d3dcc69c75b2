"""Figures of the segmentation section: per-case Dice as dots, volume agreement (predicted vs
true, Bland–Altman) and an example slice with truth and prediction contours. Plain data in,
SVG text out (``plots`` conventions: fixed hash salt, one colour per adapter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import numpy as np

from imagination.report.plots import _STYLE, _figure, _grid, _svg

#: truth / prediction contour colours of the example slice, by region
REGION_COLOURS: dict[str, str] = {"WT": "#ffd700", "TC": "#ff7f0e", "ET": "#ff2a2a",
                                  "NETC": "#9467bd", "SNFH": "#2ca02c", "RC": "#17becf"}


def case_dots_plot(panels: Mapping[str, Mapping[str, np.ndarray]], colours: Mapping[str, str],
                   *, metric: str, limits: tuple[float, float] | None = (0.0, 1.0)) -> str:
    """One panel per region; per adapter every case's value as a dot (deterministic jitter)
    and the mean as a black bar."""
    adapters = list(dict.fromkeys(a for values in panels.values() for a in values))
    fig, axes = _grid(len(panels), cols=3, panel=(max(2.6, 0.55 * len(adapters) + 1.4), 3.0))
    offsets = np.linspace(-0.18, 0.18, 9)
    with mpl.rc_context(_STYLE):
        for ax, (region, by_adapter) in zip(axes, panels.items(), strict=True):
            for i, adapter in enumerate(adapters):
                values = np.asarray(by_adapter.get(adapter, []), dtype=float)
                values = values[np.isfinite(values)]
                x = i + offsets[np.arange(values.size) % offsets.size]
                ax.scatter(x, values, s=9, color=colours.get(adapter, "#555"), alpha=0.75,
                           linewidths=0)
                if values.size:
                    ax.plot([i - 0.3, i + 0.3], [values.mean()] * 2, color="#111", lw=2)
            ax.set_xticks(range(len(adapters)), adapters, rotation=30, ha="right")
            ax.set(ylabel=metric, title=region, xlim=(-0.6, len(adapters) - 0.4))
            if limits is not None:
                ax.set_ylim(limits[0] - 0.03, limits[1] + 0.03)
        return _svg(fig)


def bland_altman_limits(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    """Bias (mean of predicted − true) and the 95 % limits of agreement (bias ± 1.96 SD)."""
    diff = np.asarray(pred, float) - np.asarray(true, float)
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1)) if diff.size > 1 else float("nan")
    return bias, bias - 1.96 * sd, bias + 1.96 * sd


def volume_agreement_plot(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]],
                          colours: Mapping[str, str], *, region: str) -> str:
    """Per adapter two panels: predicted vs true volume (mL) with the identity line, and
    Bland–Altman (mean of the two vs predicted − true, bias and 95 % limits of agreement)."""
    fig, axes = _grid(2 * len(pairs), cols=4, panel=(2.6, 2.6))
    with mpl.rc_context(_STYLE):
        for k, (adapter, (pred, true)) in enumerate(pairs.items()):
            pred, true = np.asarray(pred, float), np.asarray(true, float)
            ok = np.isfinite(pred) & np.isfinite(true)
            pred, true = pred[ok], true[ok]
            colour = colours.get(adapter, "#555")
            ax, bx = axes[2 * k], axes[2 * k + 1]
            top = float(max(pred.max(initial=0.0), true.max(initial=0.0))) * 1.05 or 1.0
            ax.plot([0, top], [0, top], color="#999", lw=0.8, ls="--")
            ax.scatter(true, pred, s=10, color=colour, linewidths=0)
            ax.set(xlim=(0, top), ylim=(0, top), xlabel=f"true {region} (mL)",
                   ylabel=f"predicted {region} (mL)", title=f"{adapter} (n={pred.size})")
            mean = (pred + true) / 2
            bx.scatter(mean, pred - true, s=10, color=colour, linewidths=0)
            if pred.size:
                bias, low, high = bland_altman_limits(pred, true)
                for value, style in ((bias, "-"), (low, ":"), (high, ":")):
                    if np.isfinite(value):
                        bx.axhline(value, color="#111", lw=1, ls=style)
                bx.set_title(f"bias {bias:+.1f} mL, LoA {low:+.1f} to {high:+.1f}"
                             if np.isfinite(low) else f"bias {bias:+.1f} mL", fontsize=8)
            bx.axhline(0, color="#bbb", lw=0.6)
            bx.set(xlabel="mean of predicted and true (mL)", ylabel="predicted − true (mL)")
        return _svg(fig)


def segmentation_slice_plot(image: np.ndarray, truth: Mapping[str, np.ndarray],
                            prediction: Mapping[str, np.ndarray], *, title: str,
                            spacing: Sequence[float] = (1.0, 1.0)) -> str:
    """An axial slice: the image in grey, each region's truth as a solid contour and the
    prediction as a dashed one (colours by region)."""
    with mpl.rc_context(_STYLE):
        fig = _figure(4.4, 4.6)
        ax = fig.add_subplot()
        shown = np.asarray(image, float).T  # RAS+ (x, y) -> rows = y
        low, high = np.percentile(shown, [1, 99.5]) if shown.size else (0, 1)
        aspect = spacing[1] / spacing[0] if spacing[0] > 0 else 1.0
        ax.imshow(shown, cmap="gray", origin="lower", vmin=low, vmax=high,
                  interpolation="nearest", aspect=aspect)
        handles = []
        for region, colour in REGION_COLOURS.items():
            drawn = False
            for masks, style in ((truth, "solid"), (prediction, "dashed")):
                mask = masks.get(region)
                if mask is not None and np.asarray(mask).any():
                    ax.contour(np.asarray(mask, float).T, levels=[0.5], colors=[colour],
                               linewidths=1.2, linestyles=style, origin="lower")
                    drawn = True
            if drawn:
                handles.append(mpl.lines.Line2D([], [], color=colour, lw=1.5, label=region))
        handles.append(mpl.lines.Line2D([], [], color="#ccc", lw=1.2, label="truth"))
        handles.append(mpl.lines.Line2D([], [], color="#ccc", lw=1.2, ls="--",
                                        label="prediction"))
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.2), ncol=4,
                  fontsize=7)
        ax.set_axis_off()
        ax.set_title(title)
        return _svg(fig)
