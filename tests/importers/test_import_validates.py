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
