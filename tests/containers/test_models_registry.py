"""The model registry file, `models list`, `models check` and use from a bench config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imagination.adapters.registry import create
from imagination.cli.app import run_app
from imagination.errors import InputError
from imagination.models.registry import load_registry

#: one worker runs every container test (one podman store, images loaded once)
pytestmark = pytest.mark.xdist_group("containers")


def registry(folder: Path, archives, **extra) -> Path:  # type: ignore[no-untyped-def]
    entries = []
    for model_id, image in (("growth-good", "predict-gbm"), ("growth-bad-grid", "wrong-grid")):
        archive, digest = archives[image]
        entries.append({"id": model_id, "image_archive": str(archive), "digest": digest,
                        "layout": "predict-gbm", "tasks": ["recurrence"],
                        "reference_space": "MNI152", "expected_s_per_case": 60,
                        "code_licence": "Apache-2.0", "weights_licence": "none",
                        "paper": "test image", "timeout_s": 60, **extra})
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump(entries))
    return path


def test_list_shows_licences(tmp_path: Path, archives, capsys) -> None:  # type: ignore[no-untyped-def]
    path = registry(tmp_path, archives)
    assert run_app(["models", "list", "--registry", str(path)]) == 0
    out = capsys.readouterr().out
    assert "growth-good" in out and "weights licence none" in out and "MNI152" in out


def test_bad_registry_entry_is_named(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump([{"id": "x", "layout": "brats", "tasks": ["recurrence"]}]))
    with pytest.raises(InputError, match=r"entry 0: .*exactly one of image or image_archive"):
        load_registry(path)


def test_check_passes_a_good_image_and_names_a_bad_one(podman, archives, glioma_cohort,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path, capsys) -> None:
    path = registry(tmp_path, archives)
    common = ["--registry", str(path), "--manifest", str(glioma_cohort)]
    assert run_app(["models", "check", "growth-good", *common]) == 0
    good = capsys.readouterr().out
    assert all(f"{aspect:8s} ok" in good for aspect in ("image", "inputs", "outputs", "grid",
                                                         "timing"))
    assert run_app(["models", "check", "growth-bad-grid", *common]) == 1
    bad = capsys.readouterr().out
    assert "grid     FAIL" in bad and "not on the case grid: origin" in bad


def test_bench_config_uses_a_registry_entry_by_id(podman, archives, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = registry(tmp_path, archives)
    adapter = create("container", model="growth-good", registry=str(path), timeout_s=5)
    assert adapter.name == "growth-good" and adapter.timeout_s == 5  # config overrides entry
    assert adapter.image_id == archives["predict-gbm"][1]
    with pytest.raises(InputError, match="no model 'nope'"):
        create("container", model="nope", registry=str(path))


def test_check_judges_a_segmenters_label_maps(podman, archives, glioma_cohort,  # type: ignore[no-untyped-def]
                                              tmp_path: Path, capsys) -> None:
    """A BraTS-layout segmenter passes; the nnU-Net image (SNFH written as code 1) with a label
    map that leaves code 1 out fails on its outputs, naming the code."""
    entries = []
    for model_id, image, extra in (
            ("seg-good", "brats", {"layout": "brats"}),
            ("seg-bad-codes", "nnunet", {"layout": "nnunet",
                                         "label_map": {"2": "SNFH", "3": "ET"}})):
        archive, digest = archives[image]
        entries.append({"id": model_id, "image_archive": str(archive), "digest": digest,
                        "tasks": ["segmentation"], "timeout_s": 60, **extra})
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(entries))
    common = ["--registry", str(path), "--manifest", str(glioma_cohort)]
    assert run_app(["models", "check", "seg-good", *common]) == 0
    good = capsys.readouterr().out
    assert all(f"{aspect:8s} ok" in good for aspect in ("image", "inputs", "outputs", "grid"))
    assert run_app(["models", "check", "seg-bad-codes", *common]) == 1
    bad = capsys.readouterr().out
    assert "outputs  FAIL" in bad and "codes [1]" in bad
