"""What a metric means, in one place: :class:`Metric` owns its direction (higher, lower or a
target value), ``better``/``badness``, label, unit, range and an executable edge-case table
(:class:`EdgeCases`, as panoptica's ``EdgeCaseHandler``). Ranking, gates, worst-case summaries,
corruption errors and plots ask the metric; nothing else decides which way is better.

Adding a metric: build a :class:`Metric` and list it in :mod:`imagination.metrics.registry`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Family = Literal["classification", "response", "segmentation", "recurrence", "derived"]
Level = Literal["cohort", "case"]
Direction = Literal["higher", "lower", "target"]
AppliesTo = Literal["binary", "multiclass", "any"]

#: An edge-case cell: a declared number, the name of a case-dependent value given at
#: evaluation (``"diagonal"``: the image extent's diagonal in mm), or ``None``: the formula.
Cell = float | str | None

DIRECTION_WORDS = {"higher": "higher is better", "lower": "lower is better",
                   "target": "closer to the target is better"}


@dataclass(frozen=True)
class EdgeCases:
    """Declared value of the metric when the reference, the prediction or both are empty.

    What "reference" and "prediction" are depends on the family; ``reference``/``prediction``
    name the empty situation in words: an empty truth / predicted mask, no recurrence / an empty
    plan, or no positive case in the truth / no case predicted positive (binary tasks).
    ``notes`` declares every other choice (ties, clipping, thresholds)."""

    empty_reference: Cell = None
    empty_prediction: Cell = None
    both_empty: Cell = None
    reference: str = ""
    prediction: str = ""
    notes: str = ""
    #: both non-empty without a common voxel (segmentation; panoptica's zero-TP case)
    no_overlap: Cell = None

    def resolve(self, reference_empty: bool, prediction_empty: bool,
                context: Mapping[str, float] | None = None, *,
                no_overlap: bool = False) -> float | None:
        """The declared value for this situation, or ``None`` when the formula applies."""
        if no_overlap and not (reference_empty or prediction_empty):
            cell = self.no_overlap
        elif reference_empty and prediction_empty:
            cell = self.both_empty
        elif reference_empty:
            cell = self.empty_reference
        elif prediction_empty:
            cell = self.empty_prediction
        else:
            return None
        if cell is None or isinstance(cell, float | int):
            return None if cell is None else float(cell)
        # a named, case-dependent value (e.g. "diagonal")
        if context is None or cell not in context:
            raise KeyError(f"edge case value {cell!r} needs the case's {cell}")
        return float(context[cell])

    def table(self) -> dict[str, Any]:
        """Serialisable table (``run.json``, ``metrics list --json``): NaN as ``"NaN"``."""
        def cell(v: Cell) -> Any:
            if v is None:
                return "formula"
            if isinstance(v, float) and math.isnan(v):
                return "NaN"
            if isinstance(v, float) and math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return v
        return {"empty_reference": cell(self.empty_reference),
                "empty_prediction": cell(self.empty_prediction),
                "both_empty": cell(self.both_empty), "no_overlap": cell(self.no_overlap),
                "reference": self.reference,
                "prediction": self.prediction, "notes": self.notes}

    def text(self) -> str:
        """One line for people: ``no positive case in the truth → NaN; ...; notes``."""
        t = self.table()
        ref, pred = self.reference or "empty reference", self.prediction or "empty prediction"
        names = {"empty_reference": ref, "empty_prediction": pred,
                 "both_empty": f"{ref} and {pred}"}
        parts = [f"{names[k]} → {t[k]}" for k in names if t[k] != "formula"]
        return "; ".join(parts + ([self.notes] if self.notes else [])) or "no edge cases"


@dataclass(frozen=True)
class Metric:
    """One metric and its semantics. ``compute`` call shapes by family are listed in
    :mod:`imagination.metrics.registry`; ``derived`` metrics (flip rate, plan Dice, p_true)
    are computed by the engine and have ``compute = None``."""

    name: str
    family: Family
    level: Level
    direction: Direction
    range: tuple[float, float]
    #: the value the ``worst`` failure policy substitutes for a failed case (NaN: none)
    worst: float
    edge_cases: EdgeCases
    version: str
    compute: Callable[..., float] | None
    applies_to: AppliesTo = "any"
    #: ideal value when ``direction == "target"``
    target: float | None = None
    definition: str = ""
    label: str = ""
    #: unit of the value: "" (dimensionless), "fraction", "mL", "mm"
    unit: str = ""
    reference_implementation: str = ""
    #: the value of a no-skill prediction (AUROC 0.5; balanced accuracy 1/K), if it has one
    chance: float | None = None

    def __post_init__(self) -> None:
        if self.direction == "target" and self.target is None:
            raise ValueError(f"metric {self.name}: direction 'target' needs a target value")
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))

    @property
    def edge_case_policy(self) -> str:
        """The edge-case table as one line of text."""
        return self.edge_cases.text()

    def badness(self, value: Any) -> Any:
        """How bad ``value`` is (smaller = better; NaN = +inf, worst of all). Works on scalars
        and arrays: −v (higher), v (lower), |v − target| (target)."""
        v = np.asarray(value, dtype=np.float64)
        if self.direction == "higher":
            out = -v
        elif self.direction == "lower":
            out = v.copy()
        else:
            out = np.abs(v - float(self.target))  # type: ignore[arg-type]
        out = np.where(np.isnan(out), np.inf, out)
        return float(out) if out.ndim == 0 else out

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b`` (a finite value beats NaN)."""
        return bool(self.badness(a) < self.badness(b))

    @property
    def ideal(self) -> float:
        """The best value: the top of the range (higher), the bottom (lower), or the target."""
        if self.direction == "target":
            return float(self.target)  # type: ignore[arg-type]
        return float(self.range[1] if self.direction == "higher" else self.range[0])

    def error(self, value: float) -> float:
        """Distance from the ideal, badness(value) − badness(ideal): 1 − AUROC, the HD95 itself,
        |slope − 1|. NaN when the ideal is not finite or the value is NaN."""
        if not math.isfinite(self.ideal) or not math.isfinite(float(value)):
            return float("nan")
        return float(self.badness(value) - self.badness(self.ideal))

    def worsening(self, old: float, new: float) -> float:
        """How much worse ``new`` is than ``old`` (positive = worse), in the metric's units."""
        return float(self.badness(new) - self.badness(old))

    def allowed(self, old: float, drop: float) -> float:
        """The worst value still within ``drop`` of ``old`` (the other side of the target for
        target metrics)."""
        if self.direction == "higher":
            return old - drop
        if self.direction == "lower":
            return old + drop
        side = 1.0 if old >= float(self.target) else -1.0  # type: ignore[arg-type]
        return float(self.target) + side * (abs(old - float(self.target)) + drop)  # type: ignore[arg-type]

    def clip(self, value: float) -> float:
        """``value`` kept inside the metric's range (interval bounds of bounded metrics)."""
        if not math.isfinite(value):
            return value
        return float(min(max(value, self.range[0]), self.range[1]))

    @property
    def direction_words(self) -> str:
        if self.direction == "target":
            return f"closer to {self.target:g} is better"
        return DIRECTION_WORDS[self.direction]

    def chance_level(self, n_classes: int = 2) -> float | None:
        """The no-skill value for a task with ``n_classes`` classes (balanced accuracy 1/K)."""
        if self.name == "balanced_accuracy" and n_classes > 2:
            return 1.0 / n_classes
        return self.chance

    def below_chance(self, ci_high: float, n_classes: int = 2) -> bool:
        """True when a whole interval lies on the wrong side of the no-skill value."""
        chance = self.chance_level(n_classes)
        if chance is None or not math.isfinite(ci_high):
            return False
        return bool(self.direction == "higher" and ci_high < chance)

    def edge_value(self, reference_empty: bool, prediction_empty: bool,
                   context: Mapping[str, float] | None = None, *,
                   no_overlap: bool = False) -> float | None:
        """The declared edge-case value, or ``None`` when the formula applies."""
        return self.edge_cases.resolve(reference_empty, prediction_empty, context,
                                       no_overlap=no_overlap)

    def describe(self) -> dict[str, Any]:
        """Serialisable description (everything but ``compute``), for ``run.json``."""
        def number(x: float) -> Any:
            return x if math.isfinite(x) else ("NaN" if math.isnan(x)
                                               else ("inf" if x > 0 else "-inf"))
        return {
            "name": self.name, "label": self.label, "family": self.family,
            "level": self.level, "direction": self.direction, "target": self.target,
            "unit": self.unit, "range": [number(x) for x in self.range],
            "worst": number(self.worst), "edge_cases": self.edge_cases.table(),
            "version": self.version, "applies_to": self.applies_to,
            "definition": self.definition,
            "reference_implementation": self.reference_implementation,
            "chance": self.chance,
        }
