"""Issue 12: interval labels follow alpha, warnings beside numbers (below chance, small n,
zero-width interval), differences labelled A − B, the Wilcoxon variant named."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from imagination.report.regenerate import regenerate

pytestmark = pytest.mark.xdist_group("report")


def _set_alpha(run_dir, alpha: float) -> None:
    path = run_dir / "run.json"
    run = json.loads(path.read_text())
    run["config"]["statistics"]["alpha"] = alpha
    run["statistical_tests"] = {"wilcoxon": "Wilcoxon signed-rank test as R's wilcox.test"}
    path.write_text(json.dumps(run))


def test_interval_labels_follow_alpha(run_dir) -> None:
    _set_alpha(run_dir, 0.1)
    regenerate(run_dir)
    html = (run_dir / "report.html").read_text()
    summary = (run_dir / "summary.md").read_text()
    assert "90% CI" in html and "90% CI" in summary
    assert "95%" not in html and "95%" not in summary
    assert "significant at 0.1 after adjustment" in html
    assert "difference (A − B)" in html
    # every difference column says which way it is taken (robustness, site shift, ablation)
    assert "change (perturbed − clean)</th><th class=\"num\">corruption error" in html
    assert "change (refit − pooled) [90% CI] / spread (highest − lowest site)" in html
    assert "effect (with − without) [90% CI]" in html
    assert "Wilcoxon signed-rank test as R" in html


def test_below_chance_small_n_and_zero_width_are_flagged(run_dir) -> None:
    path = run_dir / "leaderboard.csv"
    board = pd.read_csv(path, dtype={"task": str, "metric": str, "adapter": str})
    below = (board["task"] == "idh") & (board["metric"] == "auroc") & (
        board["adapter"] == "prevalence")
    board.loc[below, ["value", "ci_low", "ci_high"]] = [0.39, 0.30, 0.47]
    small = (board["task"] == "idh") & (board["metric"] == "auroc") & (
        board["adapter"] == "age_volume_lr")
    board.loc[small, "n"] = 12
    flat = (board["task"] == "idh") & (board["metric"] == "auroc") & (
        board["adapter"] == "radiomics_lr")
    board.loc[flat, ["ci_low", "ci_high"]] = [0.9, 0.9]
    board.to_csv(path, index=False)
    regenerate(run_dir)
    summary = (run_dir / "summary.md").read_text()
    idh = summary.split("## idh: auroc")[1].split("##")[0]
    line = {a: next(x for x in idh.splitlines() if f"| {a} |" in x)
            for a in ("prevalence", "age_volume_lr", "radiomics_lr")}
    assert "⚠ below chance (0.5)" in line["prevalence"]
    assert "⚠ small sample (n = 12 < 20)" in line["age_volume_lr"]
    assert "⚠ zero-width interval" in line["radiomics_lr"]
    assert "below chance" not in line["age_volume_lr"] + line["radiomics_lr"]
    html = (run_dir / "report.html").read_text()
    assert "⚠ below chance (0.5)" in html and "⚠ small sample (n = 12 &lt; 20)" in html


OKABE_ITO = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442",
             "#7F7F7F"}


def _deuteranope(hex_colour: str) -> tuple[float, float, float]:
    """Machado et al. 2009 deuteranopia simulation (severity 1) of an sRGB colour (linear)."""
    import numpy as np

    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                       [-0.011820, 0.042940, 0.968881]])
    return tuple(np.clip(matrix @ linear, 0, 1))


def test_adapter_colours_are_okabe_ito_stable_and_apart_under_deuteranopia() -> None:
    import numpy as np

    from imagination.report import plots

    demo = ["margin-15mm", "fk-growth", "fk-growth-pet", "random", "pet-btv",
            "t2flair-mismatch", "age-volume-lr", "radiomics-lr", "prevalence"]
    colours = plots.adapter_colours(demo)
    assert set(colours.values()) <= OKABE_ITO
    recurrence = [colours[a] for a in ("margin-15mm", "fk-growth", "fk-growth-pet", "random",
                                       "pet-btv")]
    assert len(set(recurrence)) == len(recurrence)  # distinct within a task's figures
    # one colour per adapter whatever else the run holds, in any order
    assert plots.adapter_colours(["fk-growth-pet", "fk-growth"]) == {
        "fk-growth": colours["fk-growth"], "fk-growth-pet": colours["fk-growth-pet"]}
    mine = plots.adapter_colours(["my-model", "fk-growth"])
    assert mine["my-model"] == plots.adapter_colours(["fk-growth", "my-model", "x"])["my-model"]
    a, b = (np.array(_deuteranope(colours[x])) for x in ("fk-growth", "fk-growth-pet"))
    assert np.linalg.norm(a - b) > 0.2  # the old red/green pair was 0.04 apart
    assert len({plots.marker(c) for c in recurrence}) == len(recurrence)
    # the whole demo (11 adapters, 8 colours): built-ins keep their slots, distinct within each
    # task family, no-skill references grey, none in the faint yellow
    everything = plots.adapter_colours([*demo, "intensity-rule-seg", "empty"])
    for family in (("margin-15mm", "fk-growth", "fk-growth-pet", "random", "pet-btv"),
                   ("t2flair-mismatch", "age-volume-lr", "radiomics-lr", "prevalence"),
                   ("intensity-rule-seg", "empty")):
        assert len({everything[a] for a in family}) == len(family)
    assert {everything[a] for a in ("random", "prevalence", "empty")} == {"#7F7F7F"}
    assert "#F0E442" not in everything.values()


def test_questions_first_and_largest_drop_over_all_metrics(run_dir) -> None:
    robustness = pd.read_csv(run_dir / "robustness.csv", dtype={"task": str, "metric": str,
                                                                "adapter": str})
    extra = robustness[(robustness["task"] == "idh") & (robustness["metric"] == "auroc")
                       & (robustness["adapter"] == "radiomics_lr")].head(1).copy()
    extra[["metric", "value", "clean_value", "delta", "delta_ci_low", "delta_ci_high"]] = [
        "balanced_accuracy", 0.233, 0.933, -0.7, -0.8, -0.6]
    pd.concat([robustness, extra]).to_csv(run_dir / "robustness.csv", index=False)
    regenerate(run_dir)
    html = (run_dir / "report.html").read_text()
    summary = (run_dir / "summary.md").read_text()
    sentence = ("Adding PET to radiomics_lr changes AUROC (idh) by +0.040 [+0.010, +0.070] "
                "(95% CI; with − without)")
    assert sentence in summary and sentence in html
    assert summary.index(sentence) < summary.index("## Gates")
    assert html.index(sentence) < html.index('id="cohort"')
    headline = html.split("Robustness headline")[1].split("</table>")[0]
    row = next(r for r in headline.split("<tr>") if "radiomics_lr" in r)
    assert "balanced accuracy" in row and "0.933 → 0.233" in row and "-0.700" in row


def test_report_and_cli_say_what_each_severity_is(run_dir, capsys) -> None:
    import imagination.cli  # noqa: F401  (registers the command groups)
    from imagination.cli.app import run_app
    from imagination.perturb.registry import get

    regenerate(run_dir)
    html = (run_dir / "report.html").read_text()
    noise = get("noise").info
    used = sorted(pd.read_csv(run_dir / "robustness.csv").query("kind == 'noise'")["severity"]
                  .astype(int).unique())
    levels = ", ".join(f"{s}: {noise.value(s):g}" for s in used)
    assert f"<td>noise</td><td>{noise.parameter}</td><td>{levels}</td>" in html
    assert run_app(["perturbations", "list", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed["noise"]["levels"] == list(noise.levels) and "drop_pet" in listed


@pytest.mark.parametrize(("n", "warned"), [(3, True), (19, True), (20, False), (30, False)])
def test_an_ablation_answer_on_few_pairs_says_so(run_dir, n: int, warned: bool) -> None:
    ablation = pd.read_csv(run_dir / "ablation.csv")
    ablation["n"] = n
    ablation.to_csv(run_dir / "ablation.csv", index=False)
    regenerate(run_dir)
    summary = (run_dir / "summary.md").read_text()
    questions = summary.split("## Questions")[1].split("## Gates")[0]
    assert f"n = {n}." in questions
    assert (f"Small sample (n = {n} < 20)" in questions) is warned
