"""Robustness curves of built-in adapters on a small synthetic cohort, without the engine.

Makes a cohort (or reads one with --manifest), applies each perturbation kind at severities
1..5 to every case (seed per case × kind × severity from ``perturbation_seed``), runs the
non-learning adapters on the clean and perturbed cases, and prints per adapter, metric, kind
and severity: the mean value, the paired delta against clean with its subject-bootstrap
interval, and the flip rate (classification) or the Dice of clean and perturbed iso-volume
plans (recurrence). The whole table is computed twice and must be identical (replay check).

    .venv/bin/python scripts/check_robustness_on_synth.py --cases 12 --kinds noise blur
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from imagination.adapters import registry
from imagination.adapters.protocol import Predictions
from imagination.adapters.validation import safe_predict
from imagination.cohort.case import LoadedCase
from imagination.cohort.cohort import Cohort
from imagination.cohort.loading import load_case
from imagination.cohort.synthetic import SynthConfig, generate_cohort
from imagination.engine.plan import blinded
from imagination.metrics.recurrence import (
    isovolumetric_plan,
    recurrence_case_metrics,
    standard_plan,
)
from imagination.perturb import apply_perturbation, perturbation_seed
from imagination.stats import robustness as rb
from imagination.tasks.recurrence_scoring import recurrence_truth

Row = tuple[str, str, str, int, float, float, float, float, float, int]


def _case_values(adapter, loaded: LoadedCase, truth_case: LoadedCase,
                 ) -> dict[str, tuple[float, object]]:
    """metric -> (value, comparable output: predicted class or plan) for one run."""
    result = safe_predict(adapter, loaded, adapter.tasks)
    if not isinstance(result, Predictions):
        return {}
    out: dict[str, tuple[float, object]] = {}
    for task, probabilities in result.outputs.items():
        label = truth_case.case.labels.get(task)
        if label is None:
            continue
        predicted = max(probabilities, key=probabilities.__getitem__)
        out[f"{task}:p_true"] = (float(probabilities.get(label, 0.0)), predicted)
    truth = recurrence_truth(truth_case)
    if result.outputs.get("recurrence") is not None and truth is not None:
        metrics = recurrence_case_metrics(result.outputs["recurrence"], truth.recurrence,
                                          truth.core, truth.brain, truth.spacing)
        k = int(np.count_nonzero(standard_plan(truth.core, truth.brain, truth.spacing)))
        plan = isovolumetric_plan(result.outputs["recurrence"], truth.brain, k)
        out["recurrence:coverage_all"] = (metrics["coverage_all_model"], plan)
    return out


def robustness_table(cases: list, adapters: dict, kinds: list[str], base_seed: int) -> list[Row]:
    clean: dict[tuple[str, str], dict[str, tuple[float, object]]] = {}
    perturbed: dict[tuple[str, str, int], dict[tuple[str, str], tuple[float, object]]] = (
        defaultdict(dict))
    for case in cases:
        truth_case = load_case(case)
        loaded = load_case(blinded(case))
        for name, adapter in adapters.items():
            clean[(name, case.case_id)] = _case_values(adapter, loaded, truth_case)
        for kind in kinds:
            for severity in range(1, 6):
                seed = perturbation_seed(base_seed, case.case_id, kind, severity)
                variant = apply_perturbation(loaded, kind, severity, seed)
                for name, adapter in adapters.items():
                    perturbed[(name, kind, severity)][case.case_id] = _case_values(
                        adapter, variant, truth_case)
    rows: list[Row] = []
    subject_of = {c.case_id: c.subject_id for c in cases}
    for (name, kind, severity), by_case in sorted(perturbed.items()):
        metrics = sorted({m for v in by_case.values() for m in v})
        for metric in metrics:
            ids = [c for c in by_case if metric in by_case[c] and metric in clean[(name, c)]]
            if not ids:
                continue
            before = np.array([clean[(name, c)][metric][0] for c in ids])
            after = np.array([by_case[c][metric][0] for c in ids])
            delta, low, high = rb.paired_delta(before, after, [subject_of[c] for c in ids],
                                               n_resamples=1000, seed=base_seed)
            outputs = [(clean[(name, c)][metric][1], by_case[c][metric][1]) for c in ids]
            if metric.startswith("recurrence"):
                stability = float(np.mean([rb.plan_dice(a, b) for a, b in outputs]))
            else:
                stability = rb.flip_rate([a for a, _ in outputs], [b for _, b in outputs])
            rows.append((name, metric, kind, severity, float(after.mean()), delta, low, high,
                         stability, len(ids)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument("--kinds", nargs="+", default=["noise"])
    parser.add_argument("--adapters", nargs="+",
                        default=["t2flair-mismatch", "fk-growth", "margin-15mm"])
    parser.add_argument("--no-replay", action="store_true", help="skip the second pass")
    args = parser.parse_args()
    manifest = args.manifest
    if manifest is None:
        out = Path(tempfile.mkdtemp(prefix="imagination-robust-"))
        manifest = generate_cohort(out, SynthConfig(n_cases=args.cases, n_sites=args.sites,
                                                    seed=args.seed,
                                                    resolution_mm=args.resolution)).manifest
    cases = list(Cohort.from_manifests([manifest]).cases)
    adapters = {name: registry.create(name) for name in args.adapters}
    start = time.perf_counter()
    rows = robustness_table(cases, adapters, args.kinds, args.seed)
    print(f"{len(cases)} cases, {time.perf_counter() - start:.0f} s\n")
    print(f"{'adapter':17} {'metric':24} {'kind@sev':14} {'mean':>7} {'delta':>7} "
          f"{'[low':>7} {'high]':>7} {'flip/Dice':>9} {'n':>3}")
    for name, metric, kind, sev, mean, delta, low, high, stability, n in rows:
        print(f"{name:17} {metric:24} {kind + '@' + str(sev):14} {mean:7.3f} {delta:+7.3f} "
              f"{low:+7.3f} {high:+7.3f} {stability:9.3f} {n:3d}")
    digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
    print(f"\ntable digest {digest}")
    if not args.no_replay:
        again = hashlib.sha256(repr(robustness_table(cases, adapters, args.kinds,
                                                     args.seed)).encode()).hexdigest()[:16]
        print(f"replay digest {again}: {'identical' if again == digest else 'DIFFERENT'}")
        return 0 if again == digest else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
