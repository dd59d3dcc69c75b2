"""A response bench end to end: pair jobs, tables and report, the numbers checked against
scikit-learn on the known calls of a hand-built longitudinal cohort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import cohen_kappa_score, recall_score

from imagination.cli.app import run_app
from imagination.cohort.manifest import ManifestMeta, write_manifest

from .test_response import _disc_mask, _write_exam

#: follow-up ET radius (voxels; baseline 6) -> the RANO 2.0 volumetric call
RADII = {9.0: "PD", 6.2: "SD", 3.0: "PR", 0.0: "CR"}
#: (subject, follow-up) pairs whose reference rating disagrees with the rule on purpose
MISLABELLED = {("S1", 0): "SD", ("S4", 1): "PD", ("S6", 0): "PR"}


def _cohort(folder: Path) -> tuple[Path, list[str], list[str]]:
    rng = np.random.default_rng(5)
    rows, truth, calls = [], [], []
    for s in range(8):
        subject = f"S{s}"
        base = f"{subject}-base"
        rows.append({"case_id": base, "subject_id": subject, "site": "ab"[s % 2],
                     "days_from_baseline": 0,
                     **_write_exam(folder, base, _disc_mask(6 + 0.1 * s), 3.0)})
        for k in range(2):
            radius = float(rng.choice(list(RADII)))
            call = RADII[radius]
            label = MISLABELLED.get((subject, k), call)
            # scale the radius with the baseline's so the call stays as in RADII
            mask = (_disc_mask(radius * (1 + s / 60)) if radius
                    else (_disc_mask(3) > 0).astype(np.uint8))  # CR: necrosis only
            case_id = f"{subject}-fu{k}"
            pseudo = call == "PD" and k == 0
            rows.append({"case_id": case_id, "subject_id": subject, "site": "ab"[s % 2],
                         "days_from_baseline": 60 + 100 * k,
                         "days_since_radiotherapy_end": 50 + 100 * k,
                         "baseline_case_id": base, "response": label,
                         "progression_type": ("pseudoprogression" if pseudo else
                                              "true_progression") if call == "PD" else "",
                         **_write_exam(folder, case_id, mask, 1.2 if pseudo else 2.6)})
            truth.append(label)
            calls.append(call)
    manifest = write_manifest(folder / "cohort.csv", rows, ManifestMeta(label_map="brats2021"))
    return manifest, truth, calls


@pytest.fixture(scope="module")
def response_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str]]:
    folder = tmp_path_factory.mktemp("response-bench")
    manifest, truth, calls = _cohort(folder / "cohort")
    config = {"name": "response", "cohort": {"manifests": [str(manifest)]},
              "tasks": ["response", "progression_type"],
              "adapters": [{"name": "rano2", "id": "rano-truth"},
                           {"name": "rano2-perfusion", "id": "rano-perf",
                            "params": {"signals": ["rcbv"]}}],
              "ablations": [{"adapter": "rano-perf", "modality": "rcbv",
                             "task": "progression_type", "metric": "p_true"}],
              "statistics": {"n_resamples": 200, "seed": 2},
              "executor": {"kind": "local", "workers": 1}}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    assert run_app(["bench", str(path), "--out", str(folder / "run")]) == 0
    return folder / "run", truth, calls


def test_the_confusion_table_counts_the_known_calls(response_run):
    run, truth, calls = response_run
    table = pd.read_csv(run / "confusion.csv", keep_default_na=False)
    mine = table[(table["task"] == "response") & (table["adapter"] == "rano-truth")]
    assert len(mine) == 16  # the whole 4 x 4 grid
    expected = pd.crosstab(pd.Series(truth, name="truth"), pd.Series(calls, name="predicted"))
    for row in mine.itertuples():
        want = expected.loc[row.truth, row.predicted] if (
            row.truth in expected.index and row.predicted in expected.columns) else 0
        assert row.count == want, (row.truth, row.predicted)
    assert set(mine["pathway"]) == {"reference pathway: RANO from truth (reference masks)"}


def test_per_class_and_kappa_equal_scikit_learn(response_run):
    run, truth, calls = response_run
    classes = pd.read_csv(run / "response_classes.csv", keep_default_na=False)
    present = sorted(set(truth))
    for cls in present:
        row = classes[(classes["adapter"] == "rano-truth") & (classes["class"] == cls)
                      & (classes["metric"] == "sensitivity")].iloc[0]
        expected = recall_score([t == cls for t in truth], [c == cls for c in calls])
        assert row["value"] == pytest.approx(expected)
        assert row["n"] == len(truth) and row["n_positive"] == truth.count(cls)
    board = pd.read_csv(run / "leaderboard.csv", keep_default_na=False)
    kappa = board[(board["task"] == "response") & (board["metric"] == "weighted_kappa")
                  & (board["adapter"] == "rano-truth")].iloc[0]
    # the scored classes are those present in the truth, in CR < PR < SD < PD order
    order = [c for c in ("CR", "PR", "SD", "PD") if c in present]
    assert kappa["value"] == pytest.approx(
        cohen_kappa_score(truth, calls, labels=order, weights="quadratic"))


def test_perfusion_beats_size_only_on_pseudoprogression(response_run):
    run, _, _ = response_run
    board = pd.read_csv(run / "leaderboard.csv", keep_default_na=False)
    auroc = board[(board["task"] == "progression_type") & (board["metric"] == "auroc")]
    values = dict(zip(auroc["adapter"], auroc["value"], strict=True))
    # size-only: every PD at 50 days is "undecided" (0.5), every PD at 150 days 0 -> the
    # timing alone separates them here; perfusion separates them by rCBV as well
    assert values["rano-perf"] == 1.0
    ablation = pd.read_csv(run / "ablation.csv", keep_default_na=False)
    assert ablation.loc[0, "estimate"] > 0  # with rCBV - without: p(true class) rises
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "Confusion matrix: rano-truth" in report and "Pseudoprogression ROC" in report
    assert "Adding RCBV to rano-perf" in (run / "summary.md").read_text(encoding="utf-8")
