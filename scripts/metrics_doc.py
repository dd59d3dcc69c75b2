"""Write docs/metrics.md from the metric registry (``python scripts/metrics_doc.py``).

The registry (``src/imagination/metrics/registry.py``) is the one source: a test checks that
the checked-in file equals what this script writes, so adding a metric means re-running it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from imagination.metrics import registry
from imagination.metrics.metric import Metric

TARGET = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
FAMILY_TEXT = {
    "classification": "Cohort-level metrics of a classification task, from per-case class "
                      "probabilities. Binary tasks: a case is predicted positive when "
                      "p(positive) >= 0.5; multiclass: the arg-max class.",
    "segmentation": "Per-case metrics of a binary mask against the truth mask; the leaderboard "
                    "value is the mean over cases.",
    "recurrence": "Per-case metrics of a recurrence score map (the PREDICT-GBM protocol); the "
                  "leaderboard value is the mean over cases.",
    "derived": "Computed by the engine from stored predictions (robustness, ablation tables); "
               "not configurable as `metrics`.",
}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _number(x: float) -> str:
    return "∞" if x == float("inf") else ("−∞" if x == float("-inf") else f"{x:g}")


def _direction(m: Metric) -> str:
    return f"target {m.target:g}" if m.direction == "target" else m.direction


def _edge(m: Metric) -> str:
    t = m.edge_cases.table()
    cells = [t[k] if isinstance(t[k], str) else f"{t[k]:g}"
             for k in ("empty_reference", "empty_prediction", "both_empty")]
    return " / ".join(cells)


def render() -> str:
    lines = [
        "# Metrics",
        "",
        "Generated from the metric registry by `python scripts/metrics_doc.py`; "
        "`imagination metrics list [--json]` prints the same. Every run records this "
        "dictionary in `run.json` (`metric_policies`).",
        "",
        "Each metric is one `Metric` object (`src/imagination/metrics/metric.py`) that owns its "
        "**direction** (`higher`, `lower`, or `target` = closest to a value, e.g. calibration "
        "slope 1), `badness` / `better` (ranking, gates, worst cases and plots all ask it), "
        "**range** (interval bounds are clipped to it), **unit**, **chance** value (a result "
        "whose interval lies wholly below it is flagged), the **worst** value substituted for a "
        "failed case under `failure_policy: worst`, and an executable **edge-case table** "
        "(as panoptica's `EdgeCaseHandler`): the declared value when the reference, the "
        "prediction or both are empty (`formula` = no special case; `diagonal` = the image "
        "extent's diagonal in mm). Scoring applies the table; tests check it against the "
        "formula and the reference implementations.",
        "",
        "To add a metric: write the pure function in `src/imagination/metrics/`, add a "
        "`Metric` to its family's list in `registry.py` (or call `registry.register`), and "
        "re-run this script.",
    ]
    for family in registry.FAMILIES:
        metrics = registry.available(family)
        lines += ["", f"## {family}", "", FAMILY_TEXT[family], ""]
        first = metrics[0].edge_cases if metrics else None
        if first is not None and family != "derived":
            lines += [f"Edge-case columns: empty reference = *{first.reference}*, empty "
                      f"prediction = *{first.prediction}*.", ""]
        lines += ["| name | definition | unit | direction | range | chance | edge cases "
                  "(empty reference / prediction / both) | other declared choices | reference "
                  "implementation |", "|---|---|---|---|---|---|---|---|---|"]
        for m in metrics:
            chance = "" if m.chance is None else f"{m.chance:g}"
            lines.append(
                f"| `{m.name}` | {_cell(m.label)}: {_cell(m.definition)} | {m.unit or '–'} | "
                f"{_direction(m)} | [{_number(m.range[0])}, {_number(m.range[1])}] | "
                f"{chance or '–'} | {_edge(m)} | {_cell(m.edge_cases.notes) or '–'} | "
                f"{_cell(m.reference_implementation) or '–'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
