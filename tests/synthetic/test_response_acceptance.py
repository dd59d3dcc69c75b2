"""Issue 16 acceptance on the small synthetic longitudinal cohort: RANO from truth agrees with
the generator's response where the size rule applies, and the rCBV-aware rule separates
pseudoprogression better than size and timing alone (scikit-learn AUROC).
``scripts/response_acceptance.py`` runs the same on a 40-subject cohort through the bench."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from imagination.adapters.baselines.rano2 import Rano2Adapter, Rano2PerfusionAdapter
from imagination.cohort.loading import load_case
from imagination.cohort.manifest import read_manifest


def _pairs(cohort: Path) -> list[tuple]:
    cases = {c.case_id: c for c in read_manifest(cohort / "manifest.csv").cases()}
    out = []
    for case in cases.values():
        if not case.labels.get("response"):
            continue
        follow_up = load_case(case)
        follow_up.companions = {"baseline": load_case(cases[case.baseline_case_id])}
        out.append((case, follow_up))
    return out


def test_rano_from_truth_agrees_and_perfusion_separates_pseudoprogression(longitudinal_cohort):
    size_only, perfusion = Rano2Adapter(), Rano2PerfusionAdapter(signals=["rcbv"])
    agree, applies, kinds, p_size, p_perf = 0, 0, [], [], []
    for case, pair in _pairs(longitudinal_cohort):
        kind = case.labels.get("progression_type")
        size_out = size_only.predict(pair).outputs
        if kind != "pseudoprogression":  # what a size rule cannot see at the time
            applies += 1
            call = max(size_out["response"], key=size_out["response"].get)
            agree += call == case.labels["response"]
        if kind:
            kinds.append(kind == "pseudoprogression")
            p_size.append(size_out["progression_type"]["pseudoprogression"])
            p_perf.append(perfusion.predict(pair).outputs["progression_type"]
                          ["pseudoprogression"])
    assert applies >= 10 and agree / applies >= 0.9, (agree, applies)
    assert any(kinds) and not all(kinds)
    size_auc, perf_auc = roc_auc_score(kinds, p_size), roc_auc_score(kinds, p_perf)
    assert perf_auc > size_auc, (perf_auc, size_auc)
    assert np.all(np.isfinite(p_perf))
