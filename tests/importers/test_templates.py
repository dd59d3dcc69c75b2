"""data_manifests/: every format has a README and a template the importer would write."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from imagination.cohort.importers import IMPORTERS, DatasetWarning, import_dataset
from imagination.cohort.manifest import read_manifest

from .fake_trees import BUILDERS

DATA_MANIFESTS = Path(__file__).resolve().parents[2] / "data_manifests"


@pytest.mark.parametrize("fmt", sorted(IMPORTERS))
def test_template_matches_what_the_importer_writes(fmt, tmp_path):
    readme = (DATA_MANIFESTS / fmt / "README.md").read_text()
    assert "Licence" in readme and "Label map" in readme and "Layout" in readme
    template = read_manifest(DATA_MANIFESTS / fmt / "template.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        rows, meta = import_dataset(fmt, BUILDERS[fmt](tmp_path))
    assert template.meta.label_map == meta.label_map
    assert template.meta.name == meta.name
    assert set(template.columns) <= {k for row in rows for k in row}
    assert {r["case_id"] for r in template.rows} <= {r["case_id"] for r in rows}
