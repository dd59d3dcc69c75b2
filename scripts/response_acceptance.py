"""Issue 16 acceptance on a synthetic longitudinal cohort (``python scripts/response_acceptance.py
OUT [--cases N] [--followups K] [--resolution MM] [--seed S]``).

Generates ``imagination synth OUT/cohort --followups K`` (glioblastomas only), benchmarks RANO
from truth (size only, volumetric and bidimensional) and the perfusion-aware rule, and prints:

* the agreement of RANO from truth with the generator's response on the pairs where the rule
  applies (every labelled pair except pseudoprogressions, whose truth is what a confirming
  scan shows: a size rule cannot see it at the time);
* pseudoprogression AUROC of the perfusion-aware rule and of the size-only engine with the
  paired DeLong test (``comparisons.csv``: estimate = a − b) and the rCBV ablation.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

CONFIG = {
    "name": "response-acceptance", "tasks": ["response", "progression_type"],
    "adapters": [{"name": "rano2", "id": "rano-truth"},
                 {"name": "rano2", "id": "rano-truth-2d", "params": {"method": "bidimensional"}},
                 {"name": "rano2-perfusion", "id": "rano-perfusion",
                  "params": {"signals": ["rcbv"]}},
                 {"name": "rano2-perfusion", "id": "rano-pet", "params": {"signals": ["pet"]}}],
    "ablations": [{"adapter": "rano-perfusion", "modality": "rcbv", "task": "progression_type",
                   "metric": "p_true"}],
    "statistics": {"n_resamples": 1000, "seed": 0},
    "executor": {"kind": "local", "workers": 2},
}


def _run(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "imagination", *argv], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--followups", type=int, default=3)
    parser.add_argument("--resolution", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    cohort, run = args.out / "cohort", args.out / "run"
    if not (cohort / "manifest.csv").is_file():
        _run("synth", str(cohort), "--cases", str(args.cases), "--followups",
             str(args.followups), "--resolution", str(args.resolution), "--seed",
             str(args.seed), "--prevalence", "glioblastoma=1")
    config = {**CONFIG, "cohort": {"manifests": [str((cohort / "manifest.csv").resolve())]}}
    path = args.out / "bench.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    _run("bench", str(path), "--out", str(run))

    preds = pd.read_csv(run / "predictions.csv", keep_default_na=False)
    cohort_table = pd.read_csv(run / "cohort.csv", keep_default_na=False).set_index("case_id")
    for adapter in ("rano-truth", "rano-truth-2d"):
        mine = preds[(preds["task"] == "response") & (preds["adapter"] == adapter)]
        called = mine.loc[mine.groupby("case_id")["probability"].idxmax()]
        called = called[called["truth"] != ""]
        kind = cohort_table.loc[called["case_id"], "progression_type"].to_numpy()
        applies = called[kind != "pseudoprogression"]
        agree = (applies["class"] == applies["truth"]).mean()
        print(f"{adapter}: agrees with the generator's response on "
              f"{(applies['class'] == applies['truth']).sum()}/{len(applies)} pairs where the "
              f"rule applies = {agree:.1%} (pseudoprogression pairs left out: "
              f"{int((kind == 'pseudoprogression').sum())})")
    board = pd.read_csv(run / "leaderboard.csv", keep_default_na=False)
    auroc = board[(board["task"] == "progression_type") & (board["metric"] == "auroc")]
    for r in auroc.itertuples():
        print(f"pseudoprogression AUROC {r.adapter}: {r.value:.3f} [{r.ci_low:.3f}, "
              f"{r.ci_high:.3f}] (95% subject-bootstrap CI, n = {r.n} pairs)")
    comp = pd.read_csv(run / "comparisons.csv", keep_default_na=False)
    pair = comp[(comp["task"] == "progression_type") & (comp["metric"] == "auroc")
                & comp["adapter_a"].isin(["rano-perfusion", "rano-truth"])
                & comp["adapter_b"].isin(["rano-perfusion", "rano-truth"])]
    for r in pair.itertuples():
        print(f"paired DeLong, AUROC {r.adapter_a} − {r.adapter_b}: {r.estimate:+.3f} "
              f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}], z = {r.statistic}, p = {r.p_value:.3g}, "
              f"n = {r.n}")
    ablation = pd.read_csv(run / "ablation.csv", keep_default_na=False)
    for r in ablation.itertuples():
        print(f"ablation {r.ablation}: p(true class) with − without = {r.estimate:+.3f} "
              f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}], p = {r.p_value:.3g} ({r.test}), "
              f"n = {r.n} pairs, {r.n_subjects} subjects")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
