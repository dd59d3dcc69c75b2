"""The task registry: every task has a kind that owns its output, truth, blinding and metrics;
the engine reaches tasks only through it."""

from __future__ import annotations

import ast
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from imagination.cli.app import run_app
from imagination.cohort.case import Case
from imagination.config import BenchConfig
from imagination.engine.plan import blinded
from imagination.engine.store import PredictionStore
from imagination.errors import InputError
from imagination.metrics.registry import get
from imagination.tasks import registry
from imagination.tasks.base import Blinding
from imagination.tasks.recurrence import RecurrenceKind

ENGINE = Path(registry.__file__).parents[1] / "engine"


def test_every_task_has_one_kind_and_the_config_accepts_exactly_those() -> None:
    assert registry.TASK_NAMES == ("tumor_type", "idh", "codeletion_1p19q", "mgmt", "grade",
                                   "segmentation", "recurrence", "response",
                                   "progression_type")
    assert {registry.kind_of(t).family for t in registry.TASK_NAMES} == {
        "classification", "segmentation", "recurrence", "response"}
    default = BenchConfig.model_fields["tasks"].default_factory()  # type: ignore[misc]
    assert default == list(registry.TASK_NAMES)
    with pytest.raises(InputError, match="unknown task 'segmentations'"):
        registry.kind_of("segmentations")


@pytest.mark.parametrize("task", registry.TASK_NAMES)
def test_every_metric_a_kind_names_is_in_the_metric_registry(task: str) -> None:
    kind = registry.kind_of(task)
    for n_classes in (2, 5):
        for name in kind.default_metrics(task, n_classes):
            assert get(name, kind.family).family == kind.family
    for name in (*kind.headline_metrics, *kind.site_metrics, *kind.robustness_metrics):
        assert get(name, kind.family).family == kind.family


def _case() -> Case:
    root = Path("/data")
    return Case(case_id="c1", subject_id="s1", site="A",
                images={"t1c": root / "t1c.nii.gz", "flair": root / "flair.nii.gz"},
                masks={"tumor": root / "seg.nii.gz", "brain": root / "brain.nii.gz",
                       "recurrence": root / "rec.nii.gz"},
                labels={"idh": "mutant", "grade": "4"})


def test_blinding_hides_labels_and_the_follow_up_mask_from_every_adapter() -> None:
    for tasks in ((), ("idh",), ("recurrence",)):
        seen = blinded(_case(), tasks)
        assert seen.labels == {}
        assert set(seen.masks) == {"tumor", "brain"}
        assert set(seen.images) == {"t1c", "flair"}


def test_a_performers_only_truth_mask_is_hidden_from_the_adapters_doing_that_task(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Outlining(RecurrenceKind):
        family = "outlining"
        tasks = ("outlining",)
        blinding = Blinding(masks=("tumor",), scope="performers")

    monkeypatch.setattr(registry, "KINDS", (*registry.KINDS, Outlining()))
    assert set(blinded(_case(), ("outlining",)).masks) == {"brain"}
    assert set(blinded(_case(), ("outlining", "idh")).masks) == {"brain"}
    assert set(blinded(_case(), ("idh",)).masks) == {"tumor", "brain"}


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings}


@pytest.mark.parametrize("module", sorted(p.name for p in ENGINE.glob("*.py")))
def test_the_engine_names_no_task(module: str) -> None:
    """Task names live in the registry: no engine module branches on one."""
    named = _string_constants(ENGINE / module) & set(registry.TASK_NAMES)
    assert not named, f"engine/{module} names tasks {sorted(named)}"


PACKAGE = ENGINE.parent
#: modules that read and check any model's outputs: they reach tasks through the registry
#: (output types), so a new task needs no edit there (built-in baselines declare their tasks)
ADAPTER_SIDE = sorted(str(p.relative_to(PACKAGE)) for p in (
    *PACKAGE.glob("adapters/*.py"), *PACKAGE.glob("containers/**/*.py"),
    *PACKAGE.glob("models/*.py")))


@pytest.mark.parametrize("module", ADAPTER_SIDE)
def test_adapters_containers_and_models_name_no_task(module: str) -> None:
    named = _string_constants(PACKAGE / module) & set(registry.TASK_NAMES)
    assert not named, f"{module} names tasks {sorted(named)}"


def test_tasks_list_json_shows_output_truth_metrics_and_adapters(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["tasks", "list", "--json"]) == 0
    rows = {row["task"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(registry.TASK_NAMES)
    assert rows["recurrence"]["output"] == "score_map"
    assert rows["recurrence"]["hidden_masks"] == ["recurrence"]
    assert "coverage_all_model" in rows["recurrence"]["default_metrics"]
    assert {"margin-15mm", "random", "fk-growth"} <= set(rows["recurrence"]["adapters"])
    assert "t2flair-mismatch" not in rows["recurrence"]["adapters"]
    assert rows["idh"]["output"] == "class_probabilities"
    assert rows["idh"]["classes"] == ["wildtype", "mutant"]
    assert "t2flair-mismatch" in rows["idh"]["adapters"]
    assert "auroc" in rows["tumor_type"]["default_metrics"]
    assert "sensitivity" not in rows["tumor_type"]["default_metrics"]  # five classes
    assert {"command", "precomputed"} <= set(rows["idh"]["configured_adapters"])
    assert run_app(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "recurrence  (recurrence)" in out
    # tumor_type (five classes) has no auprc/sensitivity: its headline does not name them
    tumor_type = out.split("tumor_type  (classification)")[1].split("\nidh ")[0]
    assert "  headline: auroc, balanced_accuracy, brier, ece\n" in tumor_type


def test_a_store_object_written_before_the_registry_is_still_read(tmp_path: Path) -> None:
    """Old objects keep class probabilities under ``classification`` in their metadata."""
    store = PredictionStore(tmp_path / "store")
    score = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    meta = {"format": 1, "key": "ab" * 32, "case_id": "c1", "adapter": "m",
            "perturbation_id": "clean", "kind": "predictions",
            "classification": {"idh": {"wildtype": 0.25, "mutant": 0.75}}, "features": None,
            "failure": None, "cost": {"wall_s": 1.0, "cpu_s": 1.0, "peak_rss_mb": 1.0}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, array in (("meta", np.frombuffer(json.dumps(meta).encode(), np.uint8)),
                            ("recurrence", score)):
            with zf.open(f"{name}.npy", "w") as handle:
                np.lib.format.write_array(handle, array)
    from imagination.engine.store import _decode

    record = _decode(buffer.getvalue())
    assert record.outputs["idh"] == {"wildtype": 0.25, "mutant": 0.75}
    np.testing.assert_array_equal(record.outputs["recurrence"], score)
    store.put(record.key, record)
    again = store.get(record.key)
    assert again is not None and again.outputs["idh"] == record.outputs["idh"]
    np.testing.assert_array_equal(again.outputs["recurrence"], score)
    assert set(store.get(record.key, maps=False).outputs) == {"idh"}


def test_a_family_may_bring_its_own_output_type(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An output type declared outside ``tasks/outputs.py`` (here, in this file): ``command``
    programs deliver it through the protocol; ``precomputed`` and container layouts, which
    need a reader per file format, refuse the task with an input error (exit 2)."""
    from dataclasses import dataclass

    from imagination.adapters.command import read_program_outputs
    from imagination.adapters.precomputed import PrecomputedAdapter
    from imagination.containers.layouts.templated import output_kind

    @dataclass(frozen=True)
    class Points:
        name: str = "points"
        storage: str = "json"
        description: str = "[[x, y, z], ...] in mm"

        def check(self, task, value, case, classes) -> None:  # type: ignore[no-untyped-def]
            assert isinstance(value, list)

        def normalise(self, value):  # type: ignore[no-untyped-def]
            return [[float(c) for c in p] for p in value]

        def flatten(self, value):  # type: ignore[no-untyped-def]
            return np.asarray(value, dtype=float).ravel()

        def read_program_output(self, output_dir, tasks, case):  # type: ignore[no-untyped-def]
            return {t: json.loads((output_dir / f"{t}.json").read_text()) for t in tasks}

    class Nodules(RecurrenceKind):
        family = "nodules"
        tasks = ("nodules",)
        output = Points()

    monkeypatch.setattr(registry, "_BY_TASK", {**registry._BY_TASK, "nodules": Nodules()})
    monkeypatch.setattr(registry, "TASK_NAMES", (*registry.TASK_NAMES, "nodules"))
    (tmp_path / "nodules.json").write_text("[[1, 2, 3]]")
    assert read_program_outputs(tmp_path, ["nodules"], None) == {  # type: ignore[arg-type]
        "nodules": [[1, 2, 3]]}
    with pytest.raises(InputError, match="precomputed cannot read its output type 'points'"):
        PrecomputedAdapter("p", maps_dir=tmp_path, tasks=["nodules"], base_dir=tmp_path)
    with pytest.raises(InputError, match="layouts cannot read its output type 'points'"):
        output_kind("nodules")
