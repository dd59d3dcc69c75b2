"""Acceptance check of the built-in adapters on a small synthetic cohort.

Makes a cohort (or reads one with --manifest), runs every built-in adapter on every case,
validates each output, cross-fits the learning baselines, and prints per adapter: failures,
seconds per case, and for recurrence adapters the mean coverage of all and of enhancing
recurrence by the iso-volumetric plan (k = |15 mm standard plan|), with paired win counts of
fk-growth-pet against margin-15mm.

    .venv/bin/python scripts/check_adapters_on_synth.py --cases 12 --sites 3 --seed 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from imagination.adapters import registry
from imagination.adapters.crossfit import crossfit_predict, feature_matrix
from imagination.adapters.protocol import Predictions
from imagination.adapters.validation import AdapterFailure, check_probabilities, safe_predict
from imagination.cohort.cohort import Cohort
from imagination.cohort.loading import load_case
from imagination.cohort.synthetic import SynthConfig, generate_cohort
from imagination.cohort.vocabulary import DEFAULT_VOCABULARIES
from imagination.metrics.recurrence import recurrence_case_metrics
from imagination.tasks.recurrence_scoring import recurrence_truth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, help="use this cohort instead of making one")
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument("--out", type=Path, help="where to write the cohort (default: temp)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="A single label was found")  # tiny cohorts

    manifest = args.manifest
    if manifest is None:
        out = args.out or Path(tempfile.mkdtemp(prefix="imagination-synth-"))
        start = time.perf_counter()
        summary = generate_cohort(out, SynthConfig(n_cases=args.cases, n_sites=args.sites,
                                                   seed=args.seed,
                                                   resolution_mm=args.resolution))
        manifest = summary.manifest
        print(f"cohort: {summary.n_cases} cases {summary.type_counts} in {out} "
              f"({time.perf_counter() - start:.0f} s)")
    cohort = Cohort.from_manifests([manifest])
    adapters = {name: registry.create(name) for name in registry.BUILTINS}
    seconds: dict[str, float] = defaultdict(float)
    failures: list[AdapterFailure] = []
    coverage: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    features: dict[str, list[dict[str, float]]] = defaultdict(list)
    n_valid: dict[str, int] = defaultdict(int)
    #: (adapter, task) -> (true labels, probability rows), cases with a label only
    scored: dict[tuple[str, str], tuple[list[str], list[list[float]]]] = defaultdict(
        lambda: ([], []))
    cases = list(cohort.cases)

    for case in cases:
        loaded = load_case(case)
        truth = recurrence_truth(loaded)
        for name, adapter in adapters.items():
            start = time.perf_counter()
            if registry.is_learning(adapter):
                features[name].append(adapter.extract(loaded))
                seconds[name] += time.perf_counter() - start
                continue
            result = safe_predict(adapter, loaded, adapter.tasks)
            seconds[name] += time.perf_counter() - start
            if isinstance(result, AdapterFailure):
                failures.append(result)
                continue
            assert isinstance(result, Predictions)
            n_valid[name] += 1
            for task, probabilities in result.outputs.items():
                if case.labels.get(task) is not None:
                    scored[(name, task)][0].append(str(case.labels[task]))
                    scored[(name, task)][1].append(
                        [probabilities[c] for c in DEFAULT_VOCABULARIES[task]])
            if result.outputs.get("recurrence") is not None and truth is not None:
                metrics = recurrence_case_metrics(
                    result.outputs["recurrence"], truth.recurrence, truth.core, truth.brain,
                    truth.spacing, enhancing_mask=truth.enhancing)
                coverage[name]["all"].append(metrics["coverage_all_model"])
                coverage[name]["enhancing"].append(metrics["coverage_enhancing_model"])
                coverage[name]["standard_all"].append(metrics["coverage_all_standard"])
        print(f"  {case.case_id} done", flush=True)

    subjects = [c.subject_id for c in cases]
    sites = [c.site for c in cases]
    for name, rows in features.items():
        adapter = adapters[name]
        start = time.perf_counter()
        _, matrix = feature_matrix(rows)
        for task in adapter.tasks:
            labels = [c.labels.get(task) for c in cases]
            if sum(label is not None for label in labels) < 2:
                continue
            classes = DEFAULT_VOCABULARIES[task]
            probabilities = crossfit_predict(adapter, task, classes, matrix, labels,
                                             subjects, sites)
            for row, label in zip(probabilities, labels, strict=True):
                check_probabilities(task, dict(zip(classes, row.tolist(), strict=True)),
                                    classes)
                if label is not None:
                    scored[(name, task)][0].append(str(label))
                    scored[(name, task)][1].append(row.tolist())
        n_valid[name] = len(cases)
        seconds[name] += time.perf_counter() - start

    print(f"\n{'adapter':18} {'valid':>6} {'failed':>6} {'s/case':>7}")
    for name in adapters:
        n_failed = sum(f.adapter == adapters[name].name for f in failures)
        print(f"{name:18} {n_valid[name]:6d} {n_failed:6d} {seconds[name] / len(cases):7.2f}")
    for failure in failures:
        print(f"  FAILED {failure.adapter} on {failure.case_id} ({failure.kind}): "
              f"{failure.reason}")

    print(f"\n{'classification':18} {'task':17} {'n':>3} {'AUROC':>6} {'bal.acc':>8}  "
          "(out-of-fold for learners; AUROC of the positive class, binary tasks)")
    for (name, task), (truth_labels, rows) in sorted(scored.items()):
        classes = list(DEFAULT_VOCABULARIES[task])
        proba = np.asarray(rows)
        predicted = [classes[i] for i in proba.argmax(axis=1)]
        auroc = float("nan")
        if len(classes) == 2 and len(set(truth_labels)) == 2:
            auroc = roc_auc_score([y == classes[1] for y in truth_labels], proba[:, 1])
        print(f"{name:18} {task:17} {len(truth_labels):3d} {auroc:6.2f} "
              f"{balanced_accuracy_score(truth_labels, predicted):8.2f}")

    print(f"\n{'recurrence adapter':18} {'coverage all':>13} {'enhancing':>10}  (iso-volume, "
          "mean over cases)")
    for name, values in coverage.items():
        print(f"{name:18} {np.mean(values['all']):13.3f} {np.mean(values['enhancing']):10.3f}")
    if "fk-growth-pet" in coverage and "margin-15mm" in coverage:
        pet = np.array(coverage["fk-growth-pet"]["all"])
        margin = np.array(coverage["margin-15mm"]["all"])
        standard = np.array(coverage["margin-15mm"]["standard_all"])
        print(f"\nmargin-15mm vs standard plan, max |diff|: {np.abs(margin - standard).max():.3g}")
        diff = pet - margin
        wins, losses = int((diff > 1e-9).sum()), int((diff < -1e-9).sum())
        p = wilcoxon(diff).pvalue if np.any(diff != 0) else 1.0
        print(f"fk-growth-pet - margin-15mm (all recurrence): mean {diff.mean():+.3f}, "
              f"wins {wins}, losses {losses}, paired Wilcoxon p = {p:.3g}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
