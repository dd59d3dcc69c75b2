"""Acceptance: every importer's manifest, built on its fake tree, passes `imagination validate`."""

from __future__ import annotations

import pytest

from imagination.cli.app import run_app
from imagination.cohort.importers import IMPORTERS
from imagination.cohort.manifest import read_manifest
from imagination.cohort.validation import validate_manifests

from .fake_trees import BUILDERS


def test_every_format_has_a_fake_tree():
    assert set(BUILDERS) == set(IMPORTERS)


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_imported_manifest_has_no_validation_error(fmt, tmp_path, capsys):
    root = BUILDERS[fmt](tmp_path / "data")
    out = tmp_path / f"{fmt}.csv"
    assert run_app(["manifest", "import", fmt, str(root), "-o", str(out)]) == 0
    problems = validate_manifests([out])
    errors = [str(p) for p in problems if p.severity == "error"]
    assert errors == []
    manifest = read_manifest(out)
    assert manifest.meta.name == fmt if fmt != "bids" else manifest.meta.name == "glioma-study"
    assert len(manifest.rows) >= 2
    # paths are written relative to the manifest and point at the tree's files
    for case in manifest.cases():
        assert case.images and all(p.is_file() for p in case.images.values())
        assert all(p.is_relative_to(root.resolve()) for p in case.images.values())
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_empty_folder_is_a_clear_input_error(fmt, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    if fmt == "bids":
        (empty / "dataset_description.json").write_text('{"Name": "x"}')
    extra = ["-O", f"clinical={tmp_path / 'none.csv'}"] if fmt == "ucsf-pdgm" else []
    code = run_app(["manifest", "import", fmt, str(empty), "-o", str(tmp_path / "m.csv"), *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert fmt in err and "empty" in err


def test_missing_root_names_the_folder(tmp_path, capsys):
    assert run_app(["manifest", "import", "egd", str(tmp_path / "nowhere"), "-o",
                    str(tmp_path / "m.csv")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_unknown_format_and_option_are_input_errors(tmp_path, capsys):
    assert run_app(["manifest", "import", "brats2019", str(tmp_path), "-o",
                    str(tmp_path / "m.csv")]) == 2
    assert "brats2021" in capsys.readouterr().err  # the message lists the formats
    root = BUILDERS["egd"](tmp_path / "egd")
    assert run_app(["manifest", "import", "egd", str(root), "-o", str(tmp_path / "m.csv"),
                    "-O", "colour=blue"]) == 2
    assert "colour" in capsys.readouterr().err


def test_formats_command_lists_every_format_and_option(capsys):
    assert run_app(["manifest", "formats"]) == 0
    out = capsys.readouterr().out
    for name, importer in IMPORTERS.items():
        assert name in out
        for key in importer.options:
            assert f"-O {key}=" in out


def test_lumiere_ratings_give_links_that_validate(tmp_path, capsys):
    """Acceptance (issue 16): LUMIERE expert ratings → response labels with baseline links,
    on a fake tree with the real file and column names; `imagination validate` exits 0."""
    root = BUILDERS["lumiere"](tmp_path / "data")
    out = tmp_path / "lumiere.csv"
    assert run_app(["manifest", "import", "lumiere", str(root), "-o", str(out)]) == 0
    assert run_app(["validate", str(out)]) == 0
    cases = {c.case_id: c for c in read_manifest(out).cases()}
    linked = {c.case_id: (c.baseline_case_id, c.labels["response"]) for c in cases.values()
              if c.baseline_case_id}
    assert sorted(r for _, r in linked.values()) == ["PD", "PR", "SD"]
    for case_id, (baseline, _) in linked.items():
        assert cases[baseline].days_from_baseline < cases[case_id].days_from_baseline
        assert cases[baseline].subject_id == cases[case_id].subject_id


def test_brats2024_post_treatment_suffixes_are_timepoints_of_one_subject(tmp_path, capsys):
    """BraTS 2024 post-treatment ids end in -1TT (-100, -101): timepoints of the subject whose
    pre-treatment exam ends in -000; codes 1-4 with --label-map brats2024_post."""
    from .fake_trees import image, segmentation

    root = tmp_path / "data"
    for case in ("BraTS-GLI-02405-000", "BraTS-GLI-02405-100", "BraTS-GLI-02405-101"):
        for k, suffix in enumerate(("t1n", "t1c", "t2w", "t2f")):
            image(root / case / f"{case}-{suffix}.nii.gz", seed=k)
        codes = (1, 2, 3) if case.endswith("000") else (1, 2, 3, 4)
        segmentation(root / case / f"{case}-seg.nii.gz", codes)
    out = tmp_path / "post.csv"
    assert run_app(["manifest", "import", "brats2023", str(root), "-o", str(out),
                    "--label-map", "brats2024_post"]) == 0
    assert run_app(["validate", str(out)]) == 0
    cases = read_manifest(out).cases()
    assert [(c.subject_id, c.timepoint) for c in cases] == [
        ("BraTS-GLI-02405", "000"), ("BraTS-GLI-02405", "100"), ("BraTS-GLI-02405", "101")]
