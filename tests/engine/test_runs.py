"""`describe_run` / `list_runs` and the `imagination runs` commands on hand-made run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagination.cli.app import run_app
from imagination.engine.cost import Cost
from imagination.engine.provenance import write_run_json
from imagination.engine.runs import describe_run, list_runs
from imagination.engine.store import JobRecord, PredictionStore
from imagination.errors import InputError


def _key(i: int) -> str:
    return f"{i:064x}"


def make_run(run_dir: Path, *, name: str, created: str, stored: list[int],
             failed: list[int], planned: int | None = 6) -> None:
    """Plan: cases c0..c2 × adapters A, B (keys 0..5: A gets even keys, B odd ones)."""
    run_dir.mkdir(parents=True)
    write_run_json(run_dir, {"config": {"name": name}, "created": created})
    jobs = [{"key": _key(i), "case_id": f"c{i // 2}", "adapter": "AB"[i % 2],
             "perturbation_id": "clean", "kind": "predictions"} for i in range(6)]
    if planned is not None:
        (run_dir / "plan.json").write_text(json.dumps({"jobs": jobs[:planned]}))
    store = PredictionStore(run_dir / "store")
    for i in stored + failed:
        store.put(_key(i), JobRecord(
            key=_key(i), case_id=f"c{i // 2}", adapter="AB"[i % 2], perturbation_id="clean",
            kind="failure" if i in failed else "predictions",
            outputs={} if i in failed else {"idh": {"a": 1.0}},
            failure={"kind": "timeout", "reason": "Timeout: too slow"} if i in failed else None,
            cost=Cost(2.0, 1.0, 100.0 + i)))
    store.close()


def test_describe_counts_done_failed_missing_per_adapter(tmp_path: Path):
    run = tmp_path / "run1"
    make_run(run, name="demo", created="2026-01-02T00:00:00+00:00", stored=[0, 1, 2],
             failed=[3])
    (run / "per_case.csv").write_text("x\n")
    s = describe_run(run)
    assert (s.config_name, s.created, s.planned, s.done, s.failed) == (
        "demo", "2026-01-02T00:00:00+00:00", 6, 3, 1)
    assert [job.key for job in s.missing] == [_key(4), _key(5)]
    assert not s.complete and s.state == "2 missing"
    by_adapter = {g.adapter: g for g in s.groups}
    assert (by_adapter["A"].planned, by_adapter["A"].done, by_adapter["A"].missing) == (3, 2, 1)
    assert (by_adapter["B"].done, by_adapter["B"].failed, by_adapter["B"].missing) == (1, 1, 1)
    assert by_adapter["A"].wall_s == 4.0 and by_adapter["B"].peak_rss_mb == 103.0
    assert [(f.case_id, f.kind, f.failure_kind) for f in s.failures] == [
        ("c1", "predictions", "timeout")]
    assert s.outputs == ("per_case.csv",)


def test_truncated_object_counts_as_missing_and_stale_keys_are_reported(tmp_path: Path):
    run = tmp_path / "run"
    make_run(run, name="x", created="2026-01-01", stored=[0, 1, 2, 3, 4, 5], failed=[],
             planned=4)
    store = PredictionStore(run / "store")
    path = store.object_path(_key(1))
    path.write_bytes(path.read_bytes()[:10])
    s = describe_run(run)
    assert [job.key for job in s.missing] == [_key(1)]
    assert (s.planned, s.done, s.stale) == (4, 3, 2)


def test_complete_run_and_run_without_plan(tmp_path: Path):
    make_run(tmp_path / "a", name="full", created="2026-01-01", stored=list(range(6)), failed=[])
    make_run(tmp_path / "nested" / "b", name="noplan", created="2026-01-03", stored=[0],
             failed=[], planned=None)
    runs = list_runs(tmp_path)
    assert [(r.config_name, r.state) for r in runs] == [("full", "complete"),
                                                         ("noplan", "no plan")]
    assert runs[1].planned is None and runs[1].done == 1 and runs[1].groups[0].missing is None


def test_not_a_run_and_bad_plan_are_input_errors(tmp_path: Path):
    with pytest.raises(InputError, match="not a run folder"):
        describe_run(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({"jobs": [{"key": "k"}]}))
    with pytest.raises(InputError, match="not a valid plan"):
        describe_run(tmp_path)
    assert not (tmp_path / "store").exists()  # describing never creates a store


def test_cli_list_and_show(tmp_path: Path, capsys):
    run = tmp_path / "runs" / "r1"
    make_run(run, name="demo", created="2026-01-02", stored=[0, 1, 2], failed=[3])
    assert run_app(["runs", "list", str(tmp_path / "runs"), "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["config_name"], listed["done"], listed["failed"], listed["state"]) == (
        "demo", 3, 1, "2 missing")
    assert run_app(["runs", "show", str(run)]) == 0
    out = capsys.readouterr().out
    assert "6 planned, 3 done, 1 failed, 2 missing" in out
    assert "Timeout: too slow" in out and "c2" in out
    assert run_app(["runs", "show", str(tmp_path)]) == 2


def test_unreadable_store_index_is_an_input_error(tmp_path: Path):
    run = tmp_path / "run"
    (run / "store").mkdir(parents=True)
    (run / "store" / "index.sqlite").write_bytes(b"this is not a database" * 10)
    with pytest.raises(InputError, match=r"store index is damaged.*rebuild it"):
        describe_run(run)
