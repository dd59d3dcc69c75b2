"""The segmentation task: its output type, the built-in references, precomputed and command
outputs, and per-region scoring through the registry."""

from __future__ import annotations

import os

import numpy as np
import pytest

from imagination.adapters.protocol import Segmentation
from imagination.adapters.validation import AdapterOutputError, check_predictions
from imagination.cohort.case import Case, Grid, LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.tasks.outputs import LABEL_MAP
from imagination.tasks.registry import kind_of

B23 = LabelMap.from_spec("brats2023")


def _case(shape: tuple[int, int, int] = (6, 6, 6)) -> LoadedCase:
    return LoadedCase(case=Case(case_id="c1", subject_id="s1", site="a"),
                      grid=Grid(shape=shape, affine=np.eye(4)))


def test_segmentation_is_a_registered_task_hiding_the_tumour_mask_from_performers() -> None:
    kind = kind_of("segmentation")
    assert kind.output is LABEL_MAP and kind.family == "segmentation"
    assert kind.blinding.masks == ("tumor",) and kind.blinding.scope == "performers"
    assert {"dice", "hd95", "nsd", "lesion_f1"} <= set(kind.default_metrics("segmentation", 0))


@pytest.mark.parametrize(("labels", "reason"), [
    (np.zeros((6, 6, 5), np.uint8), "shape"),
    (np.full((6, 6, 6), np.nan, np.float32), "non-finite"),
    (np.full((6, 6, 6), 4, np.uint8), r"codes \[4\] outside its declared label map brats2023"),
])
def test_a_bad_label_map_fails_the_case_with_its_reason(labels: np.ndarray,
                                                         reason: str) -> None:
    case = _case()
    with pytest.raises(AdapterOutputError, match=reason):
        LABEL_MAP.check("segmentation", Segmentation(labels, B23), case, ())
    with pytest.raises(AdapterOutputError, match="expected a Segmentation"):
        LABEL_MAP.check("segmentation", labels, case, ())


def test_probability_maps_are_checked() -> None:
    case = _case()
    labels = np.zeros((6, 6, 6), np.uint8)
    good = Segmentation(labels, B23, {"WT": np.zeros((6, 6, 6), np.float32)})
    LABEL_MAP.check("segmentation", good, case, ())
    bad = Segmentation(labels, B23, {"WT": np.full((6, 6, 6), 1.5, np.float32)})
    with pytest.raises(AdapterOutputError, match="WT probability map"):
        LABEL_MAP.check("segmentation", bad, case, ())
    hd = Segmentation(labels, LabelMap.from_spec("hdglio"), {"TC": np.zeros((6, 6, 6))})
    with pytest.raises(AdapterOutputError, match="does not define"):
        LABEL_MAP.check("segmentation", hd, case, ())


def test_references_and_exported_label_maps(tmp_path) -> None:
    from imagination.adapters.baselines.empty_seg import EmptySegAdapter
    from imagination.adapters.precomputed import PrecomputedAdapter
    from imagination.cohort.nifti import write_nifti
    from imagination.errors import InputError

    case = _case((6, 6, 6))
    empty = EmptySegAdapter().predict(case).outputs["segmentation"]
    assert isinstance(empty, Segmentation) and not empty.labels.any()
    labels = np.zeros((6, 6, 6), np.int16)
    labels[2:4, 2:4, 2:4] = 4  # BraTS 2021 ET
    (tmp_path / "segs").mkdir()
    write_nifti(tmp_path / "segs" / "c1.nii.gz", labels, np.eye(4))
    adapter = PrecomputedAdapter("exported", segmentation="segs/{case_id}.nii.gz",
                                 label_map="brats2021", base_dir=tmp_path)
    assert adapter.tasks == ("segmentation",)
    out = adapter.predict(case).outputs["segmentation"]
    assert out.label_map.name == "brats2021" and int(out.labels.max()) == 4
    LABEL_MAP.check("segmentation", out, case, ())
    with pytest.raises(InputError, match="needs label_map"):
        PrecomputedAdapter("x", segmentation="segs/{case_id}.nii.gz", base_dir=tmp_path)
    with pytest.raises(InputError, match="path template"):
        PrecomputedAdapter("x", segmentation="segs/one.nii.gz", label_map="brats2021",
                           base_dir=tmp_path)
    wrong = PrecomputedAdapter("y", segmentation="segs/{case_id}.nii.gz",
                               label_map="brats2023", base_dir=tmp_path)
    with pytest.raises(AdapterOutputError, match=r"codes \[4\] outside"):
        check_predictions(wrong.predict(case), wrong, case, ["segmentation"])


def _in_this_process(fn, items, workers):  # type: ignore[no-untyped-def]
    assert min(workers, len(items)) < 2, "scoring must run in this process here"
    return [fn(item) for item in items]


def _seg_program(label: str, mode: str) -> dict:
    import sys
    from pathlib import Path

    here = Path(__file__).parent
    return {"name": "command", "id": label,
            "params": {"name": label, "tasks": ["segmentation"], "label_map": "brats2023",
                       "argv": [sys.executable, str(here / "seg_program.py"), mode, "{input}",
                                "{output}"],
                       "required_modalities": ["flair"], "masks": ["tumor"], "timeout_s": 30}}


@pytest.mark.slow
def test_segmentation_end_to_end(bench_cohort, tmp_path, monkeypatch) -> None:
    import pandas as pd

    import imagination.engine.case_pool as case_pool
    import imagination.signals as signals
    import imagination.tasks.segmentation_scoring as segmentation_scoring
    from imagination.config import load_config
    from imagination.engine.bench import run_bench
    from imagination.report.regenerate import write_reports
    from tests.engine.conftest import write_config

    forked: list[int] = []
    real_pool = signals._fork_pool
    monkeypatch.setattr(signals, "_fork_pool", lambda processes: (
        forked.append(processes), real_pool(processes))[1])
    config = write_config(tmp_path, bench_cohort, [
        {"name": "intensity-rule-seg"}, {"name": "empty"}, _seg_program("program", "ok"),
        _seg_program("mixed", "mixed"), {"name": "margin-15mm"}],
        tasks=["segmentation", "recurrence"], executor={"kind": "local", "workers": 2})
    run = tmp_path / "run"
    run_bench(load_config(config), run_dir=run)
    # pools forked: the cohort's file checks, then recurrence and segmentation scoring
    assert forked == ([] if (os.cpu_count() or 1) < 2 else [2, 2, 2])
    board = pd.read_csv(run / "leaderboard.csv")
    seg = board[board["task"] == "segmentation"]
    assert set(seg["region"]) == {"WT", "TC", "ET", "NETC", "SNFH"}  # RC: not in brats2023
    assert board.loc[board["task"] == "recurrence", "region"].isna().all()
    wt = seg[(seg["region"] == "WT") & (seg["metric"] == "dice")].set_index("adapter")
    assert wt.loc["empty", "value"] == 0.0
    assert wt.loc["intensity-rule-seg", "value"] > 0.5  # clearly above no skill
    assert wt.loc["intensity-rule-seg", "ci_low"] > wt.loc["empty", "ci_high"]
    hd = seg[(seg["region"] == "WT") & (seg["metric"] == "hd95")].set_index("adapter")
    assert hd.loc["empty", "value"] == 373.0
    per_case = pd.read_csv(run / "per_case.csv")
    mine = per_case[(per_case["task"] == "segmentation") & (per_case["region"] == "WT")
                    & (per_case["adapter"] == "intensity-rule-seg")]
    assert {"volume_ml_pred", "volume_ml_true", "lesion_tp", "nsd"} <= set(mine["metric"])
    # the program never saw the tumour mask (it exits 4 if it does), the margin baseline did
    failures = pd.read_csv(run / "failures.csv")
    assert not (failures["adapter"] == "program").any()
    assert not (failures["adapter"] == "margin-15mm").any()
    reasons = failures[failures["adapter"] == "mixed"].set_index("case_id")["reason"]
    by_end = {cid[-1]: reason for cid, reason in reasons.items()}
    assert "shape" in by_end["1"] and "non-finite" in by_end["2"]
    assert "codes [7] outside its declared label map brats2023" in by_end["3"]
    write_reports(run)
    html = (run / "report.html").read_text()
    assert "Volume agreement (whole tumour)" in html and "Dice per case" in html

    # the cases were scored in 2 processes (the config's workers): scoring them again in this
    # process, with the score memo emptied, writes the same bytes; so does a run from the memo
    import sqlite3

    names = ("per_case.csv", "leaderboard.csv", "comparisons.csv", "robustness.csv")
    tables = {name: (run / name).read_bytes() for name in names}
    examples = sorted(p.name for p in (run / "examples").iterdir())
    with sqlite3.connect(run / "store" / "index.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM scores").fetchone()[0] >= 10
        conn.execute("DELETE FROM scores")
    monkeypatch.setattr(case_pool, "map_in_processes", _in_this_process)
    monkeypatch.setattr(case_pool, "local_processes", lambda _config: 1)
    monkeypatch.setattr(segmentation_scoring, "local_processes", lambda _config: 1)
    for _ in range(2):
        run_bench(load_config(config), run_dir=run)
        assert {name: (run / name).read_bytes() for name in names} == tables
        assert sorted(p.name for p in (run / "examples").iterdir()) == examples
