"""A realistic run directory following docs/run_directory.md, for the report tests.

Three sites, 60 cases, a binary task (idh), a multiclass task (tumor_type) and recurrence;
three classification adapters of different skill, two recurrence adapters, perturbations,
failures and an example slice. Metric values are computed with scikit-learn from the written
predictions, and intervals with a small subject bootstrap, so the tables are self-consistent.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, wilcoxon
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score

from imagination.stats.multiple import holm

SITES = ("UPENN", "UCSF", "TUM")
TYPES = ("glioblastoma", "astrocytoma", "oligodendroglioma")
CLASSIFIERS = {"radiomics_lr": 2.2, "age_volume_lr": 1.0, "prevalence": 0.0}
PLANNERS = {"fk_growth": 0.08, "random_plan": -0.25}
FAILED = {"radiomics_lr": ("C013", "C041")}
N_BOOT = 60


def _cases(rng: np.random.Generator, n: int) -> pd.DataFrame:
    sites = np.array([SITES[i % 3] for i in range(n)])
    i = np.arange(n)
    mutant = (i % 5 == 0) | ((sites == "UCSF") & (i % 5 == 1))  # every site has every class
    idh = np.where(mutant, "mutant", "wildtype")
    kind = np.where(~mutant, "glioblastoma",
                    np.where((i // 3) % 2 == 0, "astrocytoma", "oligodendroglioma"))
    mods = np.where(sites == "TUM", "t1;t1c;t2;flair;pet", "t1;t1c;t2;flair")
    return pd.DataFrame({
        "case_id": [f"C{i:03d}" for i in range(n)], "subject_id": [f"S{i:03d}" for i in range(n)],
        "site": sites, "timepoint": "0", "modalities": mods, "tumor_type": kind, "idh": idh,
        "age": np.round(np.where(idh == "mutant", 38, 62) + rng.normal(0, 9, n), 1),
        "sex": rng.choice(["F", "M"], n), "scanner": "Siemens Prisma",
        "field_strength": np.where(sites == "UCSF", 3.0, 1.5),
    })


def _proba(rng: np.random.Generator, truth: np.ndarray, classes: tuple[str, ...],
           skill: float, noise: float = 1.0) -> np.ndarray:
    onehot = (truth[:, None] == np.array(classes)[None, :]).astype(float)
    logits = skill * onehot + rng.normal(0, noise, (truth.size, len(classes)))
    if skill == 0.0:
        logits = np.zeros_like(logits)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.round(p / p.sum(axis=1, keepdims=True), 6)


def _class_metrics(truth: np.ndarray, p: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Point values with scikit-learn."""
    y = truth == classes[-1]
    if len(classes) == 2:
        return {"auroc": roc_auc_score(y, p[:, 1]), "brier": brier_score_loss(y, p[:, 1]),
                "balanced_accuracy": balanced_accuracy_score(y, p[:, 1] >= 0.5)}
    index = np.array([classes.index(t) for t in truth])
    return {"auroc": roc_auc_score(index, p, multi_class="ovr", labels=range(len(classes))),
            "balanced_accuracy": balanced_accuracy_score(index, p.argmax(axis=1))}


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    ranks = rankdata(score)
    n1 = int(y.sum())
    return (ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * (y.size - n1))


def _fast_metrics(truth: np.ndarray, p: np.ndarray, classes: tuple[str, ...]) -> dict:
    """The same metrics in plain numpy, for the bootstrap resamples."""
    index = np.array([classes.index(t) for t in truth])
    if np.unique(index).size < len(classes):
        raise ValueError("a class is absent from this sample")
    predicted = (p[:, 1] >= 0.5).astype(int) if len(classes) == 2 else p.argmax(axis=1)
    recall = [np.mean(predicted[index == k] == k) for k in range(len(classes))]
    aucs = [_auc(index == k, p[:, k]) for k in range(len(classes))]
    out = {"auroc": aucs[1] if len(classes) == 2 else float(np.mean(aucs)),
           "balanced_accuracy": float(np.mean(recall))}
    if len(classes) == 2:
        out["brier"] = float(np.mean((p[:, 1] - (index == 1)) ** 2))
    return out


DIRECTIONS = {"auroc": "higher", "brier": "lower", "balanced_accuracy": "higher",
              "coverage_all_model": "higher", "coverage_gain_all": "higher"}


def _bootstrap(rng: np.random.Generator, n: int, fn) -> list:
    out = []
    for _ in range(N_BOOT):
        index = rng.integers(0, n, n)
        try:
            out.append(fn(index))
        except ValueError:  # a resample with one class: AUROC undefined
            continue
    return out


def _boot_metrics(rng: np.random.Generator, truth: np.ndarray, p: np.ndarray,
                  classes: tuple[str, ...]) -> list[dict]:
    return _bootstrap(rng, truth.size, lambda ix: _fast_metrics(truth[ix], p[ix], classes))


def _ci(values: np.ndarray) -> list[float]:
    return list(np.nanquantile(np.asarray(values, float), [0.025, 0.975]))


def write_fixture_run(run_dir: Path, *, seed: int = 7, gates: list | None = None,
                      shift: float = 0.0) -> Path:
    """Write the run directory; ``shift`` lowers every adapter's skill (a worse rerun)."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    cohort = _cases(rng, 60)
    cohort.to_csv(run_dir / "cohort.csv", index=False)
    pred_rows, case_rows, board, comps, sites_rows, robust = [], [], [], [], [], []
    boot_values: dict[tuple[str, str, str], np.ndarray] = {}
    for task, classes in (("idh", ("wildtype", "mutant")), ("tumor_type", TYPES)):
        for adapter, skill in CLASSIFIERS.items():
            keep = ~cohort["case_id"].isin(FAILED.get(adapter, ()))
            cases = cohort[keep].reset_index(drop=True)
            truth = cases[task].to_numpy()
            p = _proba(rng, truth, classes, max(0.0, skill - shift) if skill else 0.0)
            for i, row in cases.iterrows():
                for k, cls in enumerate(classes):
                    pred_rows.append((task, adapter, "clean", row.case_id, row.subject_id,
                                      row.site, truth[i], cls, p[i, k]))
                case_rows.append((task, adapter, "clean", row.case_id, row.subject_id, row.site,
                                  "p_true", p[i, classes.index(truth[i])]))
            values = _class_metrics(truth, p, classes)
            boots = _boot_metrics(rng, truth, p, classes)
            site_stats = {}
            for site in SITES:
                at = (cases["site"] == site).to_numpy()
                sb = _boot_metrics(rng, truth[at], p[at], classes)
                site_stats[site] = (_class_metrics(truth[at], p[at], classes), sb, int(at.sum()))
            for metric, value in values.items():
                boot = np.array([b[metric] for b in boots])
                boot_values[(task, metric, adapter)] = boot
                board.append([task, metric, adapter, value, *_ci(boot), truth.size,
                              int((~keep).sum())])
                for site, (site_values, sb, n_site) in site_stats.items():
                    sites_rows.append([task, metric, adapter, site, site_values[metric],
                                       *_ci(np.array([b[metric] for b in sb])), n_site])
                sites_rows.append([task, metric, adapter, "(heterogeneity)", 0.31, 0.22,
                                   np.nan, truth.size])
            if task == "idh":
                for severity in (1, 2, 3):
                    noisy = _proba(rng, truth, classes, max(0.0, skill - 0.5 * severity)
                                   if skill else 0.0)
                    value = roc_auc_score(truth == "mutant", noisy[:, 1])
                    delta = value - values["auroc"]
                    robust.append([task, "auroc", adapter, f"noise@{severity}", "noise",
                                   severity, value, values["auroc"], delta, delta - 0.06,
                                   delta + 0.06, truth.size])
                    flips = float(np.mean(noisy.argmax(axis=1) != p.argmax(axis=1)))
                    robust.append([task, "flip_rate", adapter, f"noise@{severity}", "noise",
                                   severity, flips, 0.0, flips, np.nan, np.nan, truth.size])
                noisy = _proba(rng, truth, classes, max(0.0, skill - 0.3) if skill else 0.0)
                value = roc_auc_score(truth == "mutant", noisy[:, 1])
                delta = value - values["auroc"]
                robust.append([task, "auroc", adapter, "drop_flair@1", "drop_flair", 1, value,
                               values["auroc"], delta, delta - 0.05, delta + 0.05, truth.size])
                if adapter == "radiomics_lr":
                    robust.append([task, "auroc", adapter, "loso", "site_shift", 0,
                                   values["auroc"] - 0.07, values["auroc"], -0.07, -0.12, -0.02,
                                   truth.size])
    # recurrence: per-case coverage of the standard plan and of each model's plan
    standard = np.clip(rng.beta(4, 1.2, 60), 0, 1)
    for adapter, gain in PLANNERS.items():
        model = np.clip(standard + gain - shift + rng.normal(0, 0.08, 60), 0, 1)
        for i, row in cohort.iterrows():
            for metric, value in (("coverage_all_standard", standard[i]),
                                  ("coverage_all_model", model[i]),
                                  ("coverage_gain_all", model[i] - standard[i])):
                case_rows.append(("recurrence", adapter, "clean", row.case_id, row.subject_id,
                                  row.site, metric, value))
        for metric, values in (("coverage_all_model", model),
                               ("coverage_gain_all", model - standard)):
            boot = np.array(_bootstrap(rng, 60, lambda ix, v=values: float(v[ix].mean())))
            boot_values[("recurrence", metric, adapter)] = boot
            board.append(["recurrence", metric, adapter, float(values.mean()), *_ci(boot), 60, 0])
        test = wilcoxon(model, standard)
        comps.append(["recurrence", "coverage_all_model", adapter, "standard_plan",
                      "wilcoxon", float(np.mean(model - standard)), np.nan, np.nan,
                      test.statistic, test.pvalue, np.nan, 60])
    leaderboard = pd.DataFrame(board, columns=["task", "metric", "adapter", "value", "ci_low",
                                               "ci_high", "n", "n_failed"])
    leaderboard["direction"] = leaderboard["metric"].map(DIRECTIONS)
    _rank(leaderboard, boot_values)
    # pairwise comparisons of AUROC (paired bootstrap p-values), Holm within each family
    for task in ("idh", "tumor_type"):
        for a, b in itertools.combinations(CLASSIFIERS, 2):
            diff = boot_values[(task, "auroc", a)][:N_BOOT // 2] - \
                boot_values[(task, "auroc", b)][:N_BOOT // 2]
            estimate = float(np.mean(diff))
            p = min(1.0, 2 * min(np.mean(diff <= 0), np.mean(diff >= 0)) + 1 / N_BOOT)
            comps.append([task, "auroc", a, b, "delong", estimate,
                          *np.quantile(diff, [0.025, 0.975]), np.nan, p, np.nan, 58])
    comparisons = pd.DataFrame(comps, columns=["task", "metric", "adapter_a", "adapter_b", "test",
                                               "estimate", "ci_low", "ci_high", "statistic",
                                               "p_value", "p_holm", "n"])
    for _, family in comparisons.groupby(["task", "metric"]):
        comparisons.loc[family.index, "p_holm"] = holm(family["p_value"].to_numpy())
    _write(run_dir, "leaderboard.csv", leaderboard)
    _write(run_dir, "comparisons.csv", comparisons)
    _write(run_dir, "predictions.csv", pd.DataFrame(pred_rows, columns=[
        "task", "adapter", "perturbation", "case_id", "subject_id", "site", "truth", "class",
        "probability"]))
    _write(run_dir, "per_case.csv", pd.DataFrame(case_rows, columns=[
        "task", "adapter", "perturbation", "case_id", "subject_id", "site", "metric", "value"]))
    _write(run_dir, "sites.csv", pd.DataFrame(sites_rows, columns=[
        "task", "metric", "adapter", "site", "value", "ci_low", "ci_high", "n"]))
    robustness = pd.DataFrame(robust, columns=[
        "task", "metric", "adapter", "perturbation", "kind", "severity", "value", "clean_value",
        "delta", "delta_ci_low", "delta_ci_high", "n"])
    _write(run_dir, "robustness.csv", robustness)
    _write_robustness_extras(run_dir, robustness, pd.DataFrame(sites_rows, columns=[
        "task", "metric", "adapter", "site", "value", "ci_low", "ci_high", "n"]))
    _write(run_dir, "failures.csv", pd.DataFrame(
        [(a, "clean", c, "timeout" if c.endswith("3") else "invalid_output",
          "no output within 600 s" if c.endswith("3") else "probabilities sum to 1.37")
         for a, cs in FAILED.items() for c in cs],
        columns=["adapter", "perturbation", "case_id", "kind", "reason"]))
    _write(run_dir, "cost.csv", pd.DataFrame(
        [(a, "clean", c, round(float(rng.gamma(2, 0.4)), 3), round(float(rng.gamma(2, 0.3)), 3),
          round(float(rng.normal(420, 30)), 1))
         for a in [*CLASSIFIERS, *PLANNERS] for c in cohort["case_id"]],
        columns=["adapter", "perturbation", "case_id", "wall_s", "cpu_s", "peak_rss_mb"]))
    _write(run_dir, "reproducibility.csv", pd.DataFrame(
        [("determinism", "idh", a, "bitwise_equal", 1.0, np.nan, np.nan, 60, "2 repeats")
         for a in CLASSIFIERS]
        + [("test_retest", "idh", "radiomics_lr", "icc_2_1", 0.91, 0.82, 0.96, 12,
            "p(mutant) between test and retest")],
        columns=["analysis", "task", "adapter", "metric", "value", "ci_low", "ci_high", "n",
                 "detail"]))
    _write_example(run_dir, rng)
    _write_run_json(run_dir, gates or [])
    return run_dir


def _write_robustness_extras(run_dir: Path, robustness: pd.DataFrame,
                             sites: pd.DataFrame) -> None:
    """robustness_summary.csv (worst severity per kind), ablation.csv and site_shift.csv."""
    corr = robustness[(robustness["metric"] == "auroc") & (robustness["kind"] != "site_shift")]
    summary = [
        (task, metric, adapter, kind, rows.loc[rows["delta"].idxmin(), "value"],
         rows.loc[rows["delta"].idxmin(), "severity"], rows["delta"].min(),
         float(np.mean(1 - rows["value"])), np.nan, np.nan)
        for (task, metric, adapter, kind), rows in corr.groupby(["task", "metric", "adapter",
                                                                  "kind"])]
    _write(run_dir, "robustness_summary.csv", pd.DataFrame(summary, columns=[
        "task", "metric", "adapter", "kind", "worst_value", "worst_severity", "worst_delta",
        "mean_error", "corruption_error", "relative_corruption_error"]))
    _write(run_dir, "ablation.csv", pd.DataFrame(
        [("without_pet", a, "pet", "idh", "auroc", 0.9, 0.86, 0.04, 0.01, 0.07, 0.012,
          "paired_bootstrap", 0.02, 20, 20) for a in CLASSIFIERS],
        columns=["ablation", "adapter", "modality", "task", "metric", "with_value",
                 "without_value", "estimate", "ci_low", "ci_high", "p_value", "test",
                 "p_wilcoxon", "n", "n_subjects"]))
    per_site = sites[(sites["site"] != "(heterogeneity)") & (sites["metric"] == "auroc")]
    shift = [(task, metric, adapter, rows.loc[rows["value"].idxmin(), "site"],
              rows["value"].min(), rows.loc[rows["value"].idxmax(), "site"], rows["value"].max(),
              rows["value"].max() - rows["value"].min(), len(rows))
             for (task, metric, adapter), rows in per_site.groupby(["task", "metric", "adapter"])]
    _write(run_dir, "site_shift.csv", pd.DataFrame(shift, columns=[
        "task", "metric", "adapter", "worst_site", "worst_value", "best_site", "best_value",
        "spread", "n_sites"]))


def _rank(board: pd.DataFrame, boot: dict) -> None:
    board[["rank", "rank_ci_low", "rank_ci_high"]] = np.nan
    for (task, metric), rows in board.groupby(["task", "metric"]):
        sign = -1.0 if DIRECTIONS[metric] == "higher" else 1.0
        board.loc[rows.index, "rank"] = (sign * rows["value"]).rank(method="min")
        draws = np.stack([boot[(task, metric, a)][:40] for a in rows["adapter"]])
        ranks = np.argsort(np.argsort(sign * draws, axis=0), axis=0) + 1
        board.loc[rows.index, "rank_ci_low"] = np.quantile(ranks, 0.025, axis=1)
        board.loc[rows.index, "rank_ci_high"] = np.quantile(ranks, 0.975, axis=1)


def _write(run_dir: Path, name: str, table: pd.DataFrame) -> None:
    table.to_csv(run_dir / name, index=False, lineterminator="\n")


def _write_example(run_dir: Path, rng: np.random.Generator) -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    brain = ((xx - 32) / 27) ** 2 + ((yy - 32) / 30) ** 2 <= 1
    tumour = (xx - 24) ** 2 + (yy - 36) ** 2 <= 36
    t1c = np.where(brain, 300 + 40 * rng.standard_normal((64, 64)), 0) + 500 * tumour
    standard = ((xx - 24) ** 2 + (yy - 36) ** 2 <= 196) & brain
    model = ((xx - 28) ** 2 + (yy - 33) ** 2 <= 190) & brain
    recurrence = (xx - 33) ** 2 + (yy - 30) ** 2 <= 30
    (run_dir / "examples").mkdir(exist_ok=True)
    np.savez_compressed(run_dir / "examples" / "recurrence_fk_growth_C007.npz",
                        t1c=t1c.astype(np.float32), recurrence=recurrence.astype(np.uint8),
                        standard_plan=standard.astype(np.uint8), model_plan=model.astype(np.uint8))


CARD = {"intended_use": "research benchmark reference", "training_data": "cross-fitted on the "
        "cohort", "licence": "Apache-2.0", "regulatory_status": "not a medical device",
        "reference": "Zimmer et al. 2025", "deterministic": True}


def _write_run_json(run_dir: Path, gates: list) -> None:
    adapters = [*CLASSIFIERS, *PLANNERS]
    run = {
        "imagination_version": "0.1.0",
        "config": {"name": "fixture-bench", "tasks": ["idh", "tumor_type", "recurrence"],
                   "adapters": [{"name": a, "id": None, "params": {}} for a in adapters],
                   "gates": gates, "failure_policy": "worst",
                   "statistics": {"n_resamples": 2000, "alpha": 0.05, "seed": 0,
                                  "ci_method": "percentile"}},
        "adapters": {a: {"name": a, "version": "1.0", "params": {"C": 1.0} if "lr" in a else {},
                         "card": CARD, "tasks": ["recurrence"] if a in PLANNERS
                         else ["idh", "tumor_type"]} for a in adapters},
        "environment": {"python": "3.11.9", "host": "ci-runner", "platform": "Linux-x86_64",
                        "packages": {"numpy": "2.1.0", "scikit-learn": "1.5.2"}},
        "cohort": {"manifests": ["/data/manifests/fixture.csv"], "n_cases": 60,
                   "digests": {"fixture.csv": "sha256:0f3a"}},
        "seeds": {"statistics": 0, "crossfit": 0},
        "metric_policies": {"registry": "1"},
        "timings": {"started": "2026-11-21T10:00:00+00:00",
                    "finished": "2026-11-21T10:04:10+00:00", "wall_s": 250.0,
                    "stages": {"predict": 200.0, "score": 50.0}},
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2))
