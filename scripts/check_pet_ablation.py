"""PET ablation of the growth model on the demo cohort: does baseline PET improve the coverage
of where the glioma recurs?

Runs ``fk-growth-pet`` (with PET) and ``fk-growth`` (the same model without PET) on every case
with a follow-up recurrence mask and reports, per coverage metric, the paired difference with
its subject-bootstrap interval and p-values (``stats.robustness.ablation_test``), plus the
coverage of the standard 15 mm plan for scale. Default cohort = ``configs/demo.yaml``'s.

    .venv/bin/python scripts/check_pet_ablation.py [--cases 40 --sites 3 --seed 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from imagination.adapters import registry
from imagination.adapters.protocol import Predictions
from imagination.adapters.validation import safe_predict
from imagination.cohort.cohort import Cohort
from imagination.cohort.loading import load_case
from imagination.cohort.synthetic import SynthConfig, generate_cohort
from imagination.engine.plan import blinded
from imagination.metrics.recurrence import recurrence_case_metrics
from imagination.stats.robustness import ablation_test
from imagination.tasks.recurrence_scoring import recurrence_truth

METRICS = ("coverage_all_model", "coverage_enhancing_model")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resolution", type=float, default=2.0)
    args = parser.parse_args()
    manifest = args.manifest
    if manifest is None:
        out = Path(tempfile.mkdtemp(prefix="imagination-ablation-"))
        manifest = generate_cohort(out, SynthConfig(n_cases=args.cases, n_sites=args.sites,
                                                    seed=args.seed,
                                                    resolution_mm=args.resolution)).manifest
    with_pet, without_pet = registry.create("fk-growth-pet"), registry.create("fk-growth")
    values: dict[str, dict[str, list[float]]] = {m: {"with": [], "without": [], "standard": []}
                                                 for m in METRICS}
    subjects, failed = [], []
    start = time.perf_counter()
    for case in Cohort.from_manifests([manifest]).cases:
        truth = recurrence_truth(load_case(case))
        if truth is None or "pet" not in case.images:
            continue
        loaded = load_case(blinded(case))
        runs = [safe_predict(a, loaded, ("recurrence",)) for a in (with_pet, without_pet)]
        if not all(isinstance(r, Predictions) and r.outputs.get("recurrence") is not None
                   for r in runs):
            failed.append(case.case_id)
            continue
        scores = [recurrence_case_metrics(r.outputs["recurrence"], truth.recurrence, truth.core,  # type: ignore[union-attr]
                                          truth.brain, truth.spacing,
                                          enhancing_mask=truth.enhancing) for r in runs]
        subjects.append(case.subject_id)
        for m in METRICS:
            values[m]["with"].append(scores[0][m])
            values[m]["without"].append(scores[1][m])
            values[m]["standard"].append(scores[0][m.replace("_model", "_standard")])
    print(f"{len(subjects)} cases with recurrence and PET, {len(failed)} failed "
          f"{failed}, {time.perf_counter() - start:.0f} s")
    for m in METRICS:
        with_v, without_v = np.array(values[m]["with"]), np.array(values[m]["without"])
        keep = np.isfinite(with_v) & np.isfinite(without_v)
        result = ablation_test(with_v, without_v, subjects, n_resamples=2000, seed=0)
        diff = with_v[keep] - without_v[keep]
        print(f"\n{m}: with PET {np.nanmean(with_v):.3f}, without {np.nanmean(without_v):.3f}, "
              f"standard plan {np.nanmean(values[m]['standard']):.3f}")
        print(f"  gain from PET {result['estimate']:+.4f} "
              f"[{result['ci_low']:+.4f}, {result['ci_high']:+.4f}], "
              f"p = {result['p_value']:.3g} ({result['test']}), "
              f"Wilcoxon p = {result['p_wilcoxon']:.3g}, n = {result['n']} "
              f"({result['n_subjects']} subjects)")
        print(f"  cases better / worse / equal with PET: {int((diff > 1e-9).sum())} / "
              f"{int((diff < -1e-9).sum())} / {int((np.abs(diff) <= 1e-9).sum())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
