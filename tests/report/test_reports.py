"""report.html, summary.md and junit.xml regenerated from the fixture run; the report command's
exit codes."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from imagination.cli.app import run_app
from imagination.errors import InputError
from imagination.report.regenerate import GateOptions, regenerate
from imagination.report.tables import load_run

#: one worker builds the shared fixture runs once (tests/report/conftest.py)
pytestmark = pytest.mark.xdist_group("report")

FAILING = "idh:auroc >= 0.8 [prevalence]"
IMAGE = re.compile(r'<img src="(data:image/svg\+xml;base64,[A-Za-z0-9+/=]+)" alt="([^"]+)"')


def test_failing_config_gate_gives_exit_1(reported_run):
    _, outcome = reported_run
    assert outcome.exit_code == 1
    assert [g.name for g in outcome.failed] == [FAILING]


def test_summary_names_the_failing_gate_and_by_how_much(reported_run):
    run_dir, _ = reported_run
    summary = (run_dir / "summary.md").read_text()
    assert "1 of 1 gates FAILED" in summary
    line = next(x for x in summary.splitlines() if FAILING in x)
    assert "fail" in line and "0.5" in line and "0.8" in line and "−0.3" in line
    # the headline leaderboard of every task is there, best adapter first
    idh = summary.split("## idh: auroc")[1].split("##")[0]
    assert idh.index("radiomics_lr") < idh.index("age_volume_lr") < idh.index("| prevalence")


def test_junit_has_one_testcase_per_gate_and_names_the_failure(reported_run):
    run_dir, _ = reported_run
    root = ET.parse(run_dir / "junit.xml").getroot()
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [FAILING]
    failure = cases[0].find("failure")
    assert failure is not None and FAILING in failure.get("message")
    assert "observed 0.5" in failure.get("message") and "threshold 0.8" in failure.get("message")
    assert root.get("tests") == "1" and root.get("failures") == "1"


def test_report_is_one_self_contained_file_with_every_plot(reported_run):
    run_dir, _ = reported_run
    page = (run_dir / "report.html").read_text()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "<script" not in page and "default-src 'none'" in page
    images = IMAGE.findall(page)
    assert len(images) == page.count("<img ")
    alts = [alt for _, alt in images]
    for task in ("idh", "tumor_type"):
        for kind in ("ROC curves", "Calibration curves", "Confusion matrices",
                     "Forest plot per site", "Rank stability"):
            assert f"{kind} for {task}" in alts
    assert "Decision curves for idh" in alts and "Decision curves for tumor_type" not in alts
    assert "Robustness curves for idh" in alts
    assert "Paired recurrence coverage for recurrence" in alts
    assert "Example slice: fk_growth, case C007" in alts
    for uri, alt in images:  # every embedded figure is a well-formed SVG document
        svg = ET.fromstring(base64.b64decode(uri.split(",", 1)[1]))
        assert svg.tag.endswith("svg"), alt


def test_report_reads_questions_and_cohort_first_and_provenance_last(reported_run):
    run_dir, _ = reported_run
    page = (run_dir / "report.html").read_text()
    headings = [re.sub(r"^\d+ · ", "", h) for h in re.findall(r"<h2[^>]*>(.*?)</h2>", page)]
    assert headings == ["Questions", "Cohort", "Task: idh", "Task: tumor_type", "Task: recurrence",
                        "Adapters", "Gates", "Provenance"]
    text = re.sub(r"<[^>]+>", " ", page)
    assert "probabilities sum to 1.37" in text          # a failure reason of radiomics_lr
    assert "not a medical device" in text               # its model card
    assert "UCSF" in text and "oligodendroglioma" in text


def test_robustness_tables_of_the_contract_are_shown(reported_run):
    run_dir, _ = reported_run
    page = (run_dir / "report.html").read_text()
    idh = page.split('id="task-idh"')[1].split('id="task-tumor_type"')[0]
    assert "Modality ablation" in idh and "without" in idh      # ablation.csv
    assert "refit leaving each site out" in idh                 # loso rows of robustness.csv
    assert "sites: worst" in idh                                # site_shift.csv
    assert "flip rate" in idh                                   # stability rows
    assert "icc_2_1" in idh and "0.910" in idh                  # reproducibility.csv, task idh
    # the loso refit is not drawn as a perturbation-severity curve
    robustness = pd.read_csv(run_dir / "robustness.csv")
    assert "site_shift" in set(robustness["kind"])


def test_report_is_byte_identical_when_regenerated(reported_run, tmp_path):
    run_dir, _ = reported_run
    first = (run_dir / "report.html").read_bytes()
    regenerate(run_dir)
    assert (run_dir / "report.html").read_bytes() == first


def test_passing_requirements_exit_0(run_dir):
    code = run_app(["report", str(run_dir), "--no-config-gates",
                    "--require", "idh:auroc>=0.95,adapter=radiomics_lr",
                    "--require", "idh:brier<=0.2,adapter=radiomics_lr,on=ci_high"])
    assert code == 0
    root = ET.parse(run_dir / "junit.xml").getroot()
    assert root.get("tests") == "2" and root.get("failures") == "0"


def test_baseline_regression_fails_and_is_named(run_dir, worse_run):
    outcome = regenerate(worse_run, GateOptions(baseline_dir=run_dir, max_drop=0.02,
                                                config_gates=False))
    assert outcome.exit_code == 1
    names = {g.name for g in outcome.failed}
    assert "no drop > 0.02: idh:auroc [radiomics_lr]" in names
    assert "no drop > 0.02: idh:brier [radiomics_lr]" in names  # Brier rose
    assert not any("[prevalence]" in n and "auroc" in n for n in names)  # 0.5 both times
    summary = (worse_run / "summary.md").read_text()
    assert "no drop &gt; 0.02" not in summary and "no drop > 0.02: idh:auroc [radiomics_lr]" in \
        summary


@pytest.mark.parametrize("args", [
    ["--require", "idh:auroc>>0.8"], ["--require", "idh:nosuch>=0.1"],
    ["--max-drop", "0.1"], ["--baseline", "/nonexistent/run"],
])
def test_bad_specs_exit_2_and_write_nothing(run_dir, args, capsys):
    assert run_app(["report", str(run_dir), *args]) == 2
    assert not (run_dir / "report.html").exists() and not (run_dir / "junit.xml").exists()
    assert "error" in capsys.readouterr().err


def test_not_a_run_directory_exits_2(tmp_path, capsys):
    assert run_app(["report", str(tmp_path)]) == 2
    assert "run.json is missing" in capsys.readouterr().err


def test_table_missing_a_column_names_file_and_column(run_dir):
    table = pd.read_csv(run_dir / "sites.csv").drop(columns=["ci_high"])
    table.to_csv(run_dir / "sites.csv", index=False)
    with pytest.raises(InputError, match=r"sites\.csv: missing column\(s\) ci_high"):
        load_run(run_dir)


def test_optional_tables_may_be_absent(run_dir):
    for name in ("robustness.csv", "sites.csv", "predictions.csv", "cohort.csv", "cost.csv",
                 "failures.csv", "comparisons.csv", "reproducibility.csv", "per_case.csv"):
        (run_dir / name).unlink()
    for path in (run_dir / "examples").iterdir():
        path.unlink()
    outcome = regenerate(run_dir, GateOptions(config_gates=False))
    assert outcome.exit_code == 0
    page = (run_dir / "report.html").read_text()
    assert "Task: recurrence" in page and "ROC curves for idh" not in page


def test_bad_example_file_is_an_input_error_naming_it(run_dir):
    path = next((run_dir / "examples").iterdir())
    path.write_bytes(b"not a zip")
    with pytest.raises(InputError, match=path.name):
        regenerate(run_dir)


def test_write_reports_takes_the_bench_config_gate_list(run_dir):
    from imagination.config import GateConfig
    from imagination.report.regenerate import write_reports

    gates = [GateConfig(task="idh", metric="auroc", op=">=", value=0.9, adapter="radiomics_lr"),
             GateConfig(task="idh", metric="brier", op="<=", value=0.05, adapter="radiomics_lr")]
    assert write_reports(run_dir, gates) == 1  # these replace run.json's gates
    root = ET.parse(run_dir / "junit.xml").getroot()
    names = [(c.get("name"), c.find("failure") is not None) for c in root.iter("testcase")]
    assert names == [("idh:auroc >= 0.9 [radiomics_lr]", False),
                     ("idh:brier <= 0.05 [radiomics_lr]", True)]


def test_reproducibility_without_task_column_gets_its_own_section(run_dir):
    pd.DataFrame({"adapter": ["radiomics_lr"], "check": ["repeat_run"], "verdict": ["drift"],
                  "icc": [0.83]}).to_csv(run_dir / "reproducibility.csv", index=False)
    regenerate(run_dir, GateOptions(config_gates=False))
    page = (run_dir / "report.html").read_text()
    section = page.split('<h2 id="reproducibility">')[1].split("<h2")[0]
    assert "drift" in section and "0.830" in section


def test_failing_gate_exits_1_through_the_cli_and_names_it(run_dir, capsys):
    assert run_app(["report", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert "gate failed: idh:auroc >= 0.8 [prevalence]" in err
    assert "(margin value − 0.8 = −0.3)" in err  # observed 0.5 − required 0.8, sign spelled


def test_worst_case_comes_from_robustness_rows_without_a_summary(run_dir):
    from imagination.report.robustness_section import worst_case_rows

    (run_dir / "robustness_summary.csv").unlink()
    rows = pd.read_csv(run_dir / "robustness.csv")
    noise = rows[(rows.task == "idh") & (rows.metric == "auroc") & (rows.kind == "noise")
                 & (rows.adapter == "radiomics_lr")]
    worst = noise.loc[noise["delta"].idxmin()]
    table = worst_case_rows(load_run(run_dir), "idh", "auroc")
    mine = next(r for r in table if r[:2] == ["radiomics_lr", "noise"])
    assert mine[2] == str(int(worst["severity"])) and mine[4] == f"{worst['delta']:.3f}"
    assert not any(r[1] == "site_shift" for r in table)


def test_at_a_glance_names_the_best_adapter_and_its_test_against_the_runner_up(pristine_run):
    from imagination.report.task_section import at_a_glance

    results = load_run(pristine_run)
    board = pd.read_csv(pristine_run / "leaderboard.csv")
    idh = board[(board.task == "idh") & (board.metric == "auroc")].sort_values("rank")
    comps = pd.read_csv(pristine_run / "comparisons.csv")
    pair = comps[(comps.task == "idh") & (comps.metric == "auroc")
                 & (comps.adapter_a == idh.adapter.iloc[0])
                 & (comps.adapter_b == idh.adapter.iloc[1])]
    row = at_a_glance(results, "idh")
    assert row["best"] == idh.adapter.iloc[0] == "radiomics_lr"
    assert row["value"] == f"{idh.value.iloc[0]:.3f}" and row["n"] == "58"
    assert row["runner_up"].startswith("age_volume_lr")
    p_holm = float(pair.p_holm.iloc[0])
    expected = "better than" if p_holm < 0.05 else "not distinguishable from"
    assert row["verdict"].startswith(expected) and f"{p_holm:.3f}" in row["verdict"]


def test_unwritable_run_directory_is_an_input_error(run_dir, monkeypatch):
    import imagination.report.regenerate as regen

    def refuse(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(regen, "atomic_write_text", refuse)
    with pytest.raises(InputError, match="cannot write the reports"):
        regen.regenerate(run_dir, GateOptions(config_gates=False))
