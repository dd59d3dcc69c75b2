"""The response task: pair jobs, blinding by construction, the RANO reference adapters and the
response metrics, checked against scikit-learn and hand-computed cases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, roc_curve

from imagination.adapters.baselines.rano2 import (
    Rano2Adapter,
    Rano2PerfusionAdapter,
    ratio_probability,
)
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.cohort.manifest import ManifestMeta, read_manifest, write_manifest
from imagination.cohort.nifti import write_nifti
from imagination.config import parse_config
from imagination.engine import jobs
from imagination.engine.plan import build_plan
from imagination.metrics.classification import sensitivity_at_specificity, weighted_kappa
from imagination.stats.bootstrap import resample_weights
from imagination.tasks.registry import TASK_NAMES, kind_of

SHAPE = (40, 40, 8)
SPACING = (1.0, 1.0, 3.0)
ET, NETC = 4, 1  # BraTS 2021 codes


def _disc_mask(radius: float, *, centre: tuple[int, int] = (20, 20), slices=range(2, 6),
               ) -> np.ndarray:
    """An enhancing cylinder (ET) of ``radius`` voxels around a necrotic centre voxel."""
    x, y = np.mgrid[:SHAPE[0], :SHAPE[1]]
    disc = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 <= radius ** 2
    mask = np.zeros(SHAPE, dtype=np.uint8)
    for k in slices:
        mask[:, :, k][disc] = ET
    return mask


def _write_exam(folder: Path, case_id: str, tumour: np.ndarray, rcbv_in_lesion: float,
                ) -> dict[str, str]:
    affine = np.diag([*SPACING, 1.0])
    rng = np.random.default_rng(len(case_id))
    t1c = (rng.random(SHAPE) * 10 + 100).astype(np.float32)
    rcbv = np.ones(SHAPE, dtype=np.float32)
    rcbv[tumour == ET] = rcbv_in_lesion
    brain = np.zeros(SHAPE, dtype=np.uint8)
    brain[2:-2, 2:-2, :] = 1
    cells = {}
    for name, array, dtype in (("t1c", t1c, None), ("rcbv", rcbv, None),
                               ("mask_tumor", tumour, np.uint8), ("mask_brain", brain, np.uint8)):
        rel = f"{case_id}/{name}.nii.gz"
        write_nifti(folder / rel, array, affine, dtype=dtype)
        cells[name] = rel
    return cells


def _pair_cohort(folder: Path, growth_radius: float = 9.0, days_after_rt: int = 30,
                 rcbv: float = 1.0) -> Path:
    """Subject S1: baseline (ET disc of radius 6 voxels) and a follow-up of ``growth_radius``,
    labelled PD / pseudoprogression."""
    rows: list[dict[str, Any]] = [
        {"case_id": "s1-base", "subject_id": "S1", "site": "a", "timepoint": "postrt",
         "days_from_baseline": 0, **_write_exam(folder, "s1-base", _disc_mask(6), 3.0)},
        {"case_id": "s1-fu", "subject_id": "S1", "site": "a", "timepoint": "fu1",
         "days_from_baseline": 60, "days_since_radiotherapy_end": days_after_rt,
         "baseline_case_id": "s1-base", "response": "PD",
         "progression_type": "pseudoprogression",
         **_write_exam(folder, "s1-fu", _disc_mask(growth_radius), rcbv)},
    ]
    return write_manifest(folder / "cohort.csv", rows, ManifestMeta(label_map="brats2021"))


def _plan(manifest: Path, adapters: dict[str, Any], names: dict[str, str],
          params: dict[str, dict[str, Any]] | None = None):
    config = parse_config({
        "cohort": {"manifests": [str(manifest)]}, "tasks": ["response", "progression_type"],
        "adapters": [{"name": names[label], "id": label, "params": (params or {}).get(label, {})}
                     for label in adapters]}, base_dir=Path("/"))
    cases = read_manifest(manifest).cases()
    return build_plan(config, cases, adapters, {})


class _Spy:
    """A response 'model' that records everything it was handed and looks for the truth."""

    name = "spy"
    version = "1"
    tasks = ("response", "progression_type")
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()
    card = ModelCard(intended_use="test spy")
    seen: ClassVar[dict[str, Any]] = {}

    def params(self) -> dict[str, Any]:
        return {}

    def predict(self, case):
        baseline = case.companions["baseline"]
        _Spy.seen = {
            "masks": set(case.masks), "labels": dict(case.case.labels),
            "paths": [str(p) for p in (*case.case.images.values(), *case.case.masks.values())],
            "manifest": case.case.manifest, "baseline_masks": set(baseline.masks),
            "baseline_labels": dict(baseline.case.labels),
            "baseline_manifest": baseline.case.manifest,
            "baseline_case_id": case.case.baseline_case_id}
        return Predictions(case.case_id, {
            "response": {"CR": 0.25, "PR": 0.25, "SD": 0.25, "PD": 0.25},
            "progression_type": {"true_progression": 0.5, "pseudoprogression": 0.5}})


def test_the_task_registry_lists_the_response_task():
    assert "response" in TASK_NAMES and kind_of("response").family == "response"
    assert kind_of("progression_type").classes("progression_type", {}) == (
        "true_progression", "pseudoprogression")


def test_a_pair_is_one_job_on_the_follow_up_only(tmp_path):
    plan = _plan(_pair_cohort(tmp_path), {"spy": _Spy()}, {"spy": "rano2"})
    assert [job.case.case_id for job in plan] == ["s1-fu"]
    assert [(role, c.case_id) for role, c in plan[0].companions] == [("baseline", "s1-base")]


def test_a_response_model_cannot_see_the_follow_up_truth(tmp_path, monkeypatch):
    manifest = _pair_cohort(tmp_path)
    plan = _plan(manifest, {"spy": _Spy()}, {"spy": "rano2"})
    job = plan[0]
    assert "tumor" not in job.case.masks and job.case.labels.get("response") is None
    monkeypatch.setattr(jobs, "adapter_for", lambda spec: _Spy())
    jobs._LOADED.clear()
    record = jobs.run_job(job)
    assert record.failure is None, record.failure
    seen = _Spy.seen
    assert "tumor" not in seen["masks"]  # the follow-up's reference mask never arrives
    assert seen["labels"] == {} and seen["baseline_labels"] == {}
    assert seen["manifest"] is None and seen["baseline_manifest"] is None
    assert all("/" not in p and "nii" not in p for p in seen["paths"])  # roles, not files
    assert seen["baseline_masks"] == {"tumor", "brain"}  # the baseline's segmentation: allowed
    assert seen["baseline_case_id"] == "s1-base"
    # the job key does not depend on the hidden follow-up mask: changing it changes nothing
    write_nifti(tmp_path / "s1-fu" / "mask_tumor.nii.gz", _disc_mask(3),
                np.diag([*SPACING, 1.0]), dtype=np.uint8)
    assert _plan(manifest, {"spy": _Spy()}, {"spy": "rano2"})[0].key == job.key


def test_only_the_declared_reference_pathway_reads_the_follow_up_mask(tmp_path):
    manifest = _pair_cohort(tmp_path)
    plan = _plan(manifest, {"truth": Rano2Adapter(), "ai": Rano2Adapter(masks="seg")},
                 {"truth": "rano2", "ai": "rano2"}, {"ai": {"masks": "seg"}})
    by_label = {job.adapter_label: job for job in plan}
    assert "tumor" in by_label["truth"].case.masks
    assert "tumor" not in by_label["ai"].case.masks
    assert by_label["truth"].case.labels.get("response") is None  # labels: never
    jobs._LOADED.clear()
    failed = jobs.run_job(by_label["ai"])  # AI-RANO without its upstream masks: a clear error
    assert failed.failure is not None and "inputs: {mask_tumor: {from: seg}}" in \
        failed.failure["reason"]


def _call(tmp_path, **cohort) -> dict[str, Any]:
    manifest = _pair_cohort(tmp_path, **cohort)
    [job] = _plan(manifest, {"truth": Rano2PerfusionAdapter(signals=["rcbv"])},
                  {"truth": "rano2-perfusion"}, {"truth": {"signals": ["rcbv"]}})
    jobs._LOADED.clear()
    record = jobs.run_job(job)
    assert record.failure is None, record.failure
    return record.outputs


def test_rano_from_truth_on_hand_computed_pairs(tmp_path):
    # volume ratio (9/6)^2 = 2.25 (+125 %) >= +40 %: PD; radius 6.5: (6.5/6)^2 ~ 1.17: SD
    # (digital discs: counted below, not assumed)
    big, base, small = (_disc_mask(r) == ET for r in (9, 6, 6.5))
    assert big.sum() / base.sum() - 1 >= 0.40 > small.sum() / base.sum() - 1 > -0.65
    out = _call(tmp_path / "pd", growth_radius=9, days_after_rt=200, rcbv=3.0)
    # outside the 12-week window RANO keeps the progression: perfusion is not asked
    assert out["response"] == {"CR": 0.0, "PR": 0.0, "SD": 0.0, "PD": 1.0}
    assert out["progression_type"]["pseudoprogression"] == 0.0
    out = _call(tmp_path / "early", growth_radius=9, days_after_rt=30, rcbv=3.0)
    p_pseudo = 1 / (1 + (3.0 / 1.75) ** 4)  # rCBV ratio 3 (normal brain 1): p = 0.1038
    assert out["response"] == pytest.approx({"CR": 0.0, "PR": 0.0, "SD": p_pseudo,
                                             "PD": 1 - p_pseudo})
    out = _call(tmp_path / "sd", growth_radius=6.5, days_after_rt=200, rcbv=3.0)
    assert out["response"]["SD"] == 1.0
    # rCBV ratio 1.0 (lesion = normal brain) against 1.75: p = 1 / (1 + (1/1.75)^4)
    out = _call(tmp_path / "pseudo", growth_radius=9, days_after_rt=30, rcbv=1.0)
    assert out["progression_type"]["pseudoprogression"] == pytest.approx(
        1 / (1 + (1 / 1.75) ** 4))
    assert ratio_probability(1.75, 1.75) == pytest.approx(0.5)


def test_size_only_rano_is_undecided_inside_the_radiotherapy_window(tmp_path):
    manifest = _pair_cohort(tmp_path, days_after_rt=30)
    [job] = _plan(manifest, {"truth": Rano2Adapter()}, {"truth": "rano2"})
    jobs._LOADED.clear()
    out = jobs.run_job(job).outputs
    assert out["progression_type"]["pseudoprogression"] == 0.5  # preliminary PD (< 84 days)
    assert out["response"]["PD"] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_kappa_equals_scikit_learn_quadratic(seed):
    rng = np.random.default_rng(seed)
    classes = ["CR", "PR", "SD", "PD"]
    truth = rng.choice(classes, 40)
    proba = rng.dirichlet(np.ones(4), 40)
    predicted = np.asarray(classes)[np.argmax(proba, axis=1)]
    expected = cohen_kappa_score(truth, predicted, labels=classes, weights="quadratic")
    assert weighted_kappa(truth, proba, classes) == pytest.approx(expected)


def test_sensitivity_at_90_specificity_equals_the_roc_curve_point():
    rng = np.random.default_rng(4)
    y = rng.random(60) < 0.4
    score = np.round(rng.random(60) + 0.5 * y, 2)  # ties included
    labels = np.where(y, "pseudoprogression", "true_progression")
    proba = np.column_stack([1 - score / 2, score / 2])
    fpr, tpr, _ = roc_curve(y, score)
    expected = tpr[fpr <= 0.1 + 1e-12].max()
    assert sensitivity_at_specificity(labels, proba, ["true_progression", "pseudoprogression"],
                                      positive="pseudoprogression") == pytest.approx(expected)
    # hand case: negatives 0.1 0.2 ... 1.0 (10), positives 0.95 0.5: at specificity >= 0.9
    # the cut 0.95 calls one negative (1.0) positive: sensitivity 1/2
    neg, pos = np.linspace(0.1, 1.0, 10), np.array([0.95, 0.5])
    s = np.r_[neg, pos]
    hand = sensitivity_at_specificity(["n"] * 10 + ["p"] * 2, np.column_stack([1 - s, s]),
                                      ["n", "p"], positive="p")
    assert hand == 0.5


def test_subject_grouped_bootstrap_of_pairs_matches_the_cluster_variance():
    """Several pairs per subject: resampling subjects, the total's variance is
    S * var_pop(subject sums) (multinomial counts, hand-derived)."""
    subjects = np.array(["a", "a", "a", "b", "c", "c", "d", "e", "e", "e"])
    values = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    weights = resample_weights(subjects, n_resamples=40000, seed=11)
    for subject in np.unique(subjects):  # a subject's pairs are drawn together
        cols = weights[:, subjects == subject]
        assert (cols == cols[:, :1]).all()
    totals = weights @ values
    sums = np.array([values[subjects == s].sum() for s in np.unique(subjects)])
    expected = sums.size * sums.var()
    assert totals.var() == pytest.approx(expected, rel=0.03)


def test_the_readme_response_config_is_valid():
    import yaml

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = "tasks: [response, progression_type]\n" + readme.split(
        "tasks: [response, progression_type]\n")[1].split("```")[0]
    doc = {"cohort": {"manifests": ["c.csv"]}, **yaml.safe_load(block)}
    config = parse_config(doc, base_dir=Path("/study"))
    labels = {a.label for a in config.adapters}
    assert {"rano-truth", "ai-rano", "rano-perf"} <= labels
    assert config.ablations[0].task == "progression_type"


def test_rcbv_is_normalised_to_normal_appearing_white_matter():
    from imagination.adapters.baselines.rano2 import rcbv_reference, uptake_ratio
    from imagination.cohort.case import Case, Grid, LoadedCase

    shape = (4, 4, 2)
    wm = np.zeros(shape, dtype=np.float32)
    wm[:2] = 1.0  # white matter: rCBV 1; grey matter: rCBV 2.5; lesion: rCBV 3
    rcbv = np.where(wm > 0, 1.0, 2.5).astype(np.float32)
    lesion = np.zeros(shape, dtype=bool)
    lesion[3, 3, :] = True
    rcbv[lesion] = 3.0
    case = LoadedCase(Case("c", "s", "a"), Grid(shape, np.eye(4)), tissues={"wm": wm})
    normal = ~lesion
    assert uptake_ratio(rcbv, lesion, rcbv_reference(case, normal)) == pytest.approx(3.0)
    no_map = LoadedCase(Case("c", "s", "a"), Grid(shape, np.eye(4)))
    # without a white-matter map: the mean of all normal brain, (16 * 1 + 14 * 2.5) / 30
    assert uptake_ratio(rcbv, lesion, rcbv_reference(no_map, normal)) == pytest.approx(
        3.0 / ((16 * 1.0 + 14 * 2.5) / 30))


def test_single_exam_kinds_run_on_follow_ups_only_when_they_score_them(tmp_path):
    from imagination.engine.bench import build_adapters

    manifest = _pair_cohort(tmp_path)
    config = parse_config({"cohort": {"manifests": [str(manifest)]},
                           "tasks": ["idh", "recurrence", "segmentation", "response"],
                           "adapters": [{"name": "margin-15mm"}, {"name": "t2flair-mismatch"},
                                        {"name": "empty"}, {"name": "rano2"}]},
                           base_dir=Path("/"))
    plan = build_plan(config, read_manifest(manifest).cases(), build_adapters(config), {})
    cases = {label: sorted(j.case.case_id for j in plan if j.adapter_label == label)
             for label in ("margin-15mm", "t2flair-mismatch", "empty", "rano2")}
    assert cases == {"margin-15mm": ["s1-base"], "t2flair-mismatch": ["s1-base"],
                     "empty": ["s1-base", "s1-fu"], "rano2": ["s1-fu"]}
    from imagination.tasks.base import post_treatment

    base = read_manifest(manifest).cases()[0]
    assert not post_treatment(base)
    assert post_treatment(replace(base, days_since_radiotherapy_end=0))  # the post-RT exam
    assert not post_treatment(replace(base, days_since_radiotherapy_end=-80))  # pre-op


def test_subjects_with_pairs_of_different_outcomes_are_resampled_together():
    """Hand case: a (PD, SD) and b (PR, SD) share the mixed stratum: their weights sum to 2 in
    every resample but vary; c, d (PD) and e (SD) keep their strata sizes (2 and 1)."""
    subjects = ["a", "a", "b", "b", "c", "d", "e"]
    outcome = ["PD", "SD", "PR", "SD", "PD", "PD", "SD"]
    weights = resample_weights(subjects, strata=outcome, n_resamples=2000, seed=3)
    a, b, c, d, e = weights[:, [0, 2, 4, 5, 6]].T
    assert np.all(a + b == 2) and a.var() > 0.3  # binomial(2, 1/2): variance 0.5
    assert np.all(c + d == 2) and np.all(e == 1)
    assert np.array_equal(weights[:, 0], weights[:, 1])


def test_ai_rano_without_its_chain_is_a_config_error():
    from imagination.engine.bench import build_adapters
    from imagination.errors import InputError

    doc = {"cohort": {"manifests": ["c.csv"]}, "tasks": ["response"],
           "adapters": [{"name": "intensity-rule-seg", "id": "seg"},
                        {"name": "rano2", "id": "ai", "params": {"masks": "seg"}}]}
    with pytest.raises(InputError, match=r"adapters\[ai\].*inputs: \{mask_tumor: \{from: seg\}\}"):
        build_adapters(parse_config(doc, base_dir=Path("/")))
    doc["adapters"][1]["inputs"] = {"mask_tumor": {"from": "seg"}}
    assert set(build_adapters(parse_config(doc, base_dir=Path("/")))) == {"seg", "ai"}
