"""The importer registry and :func:`import_dataset`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from imagination.cohort.importers.base import Importer, ImportResult, Row, warn
from imagination.cohort.importers.bids import BidsImporter
from imagination.cohort.importers.brats2021 import BraTS2021Importer
from imagination.cohort.importers.brats2023 import BraTS2023Importer
from imagination.cohort.importers.egd import EgdImporter
from imagination.cohort.importers.lumiere import LumiereImporter
from imagination.cohort.importers.rhuh_gbm import RhuhGbmImporter
from imagination.cohort.importers.ucsf_pdgm import UcsfPdgmImporter
from imagination.cohort.importers.upenn_gbm import UpennGbmImporter
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.manifest import ManifestMeta, write_manifest
from imagination.cohort.merge import path_columns, reroot_rows
from imagination.errors import InputError

IMPORTERS: dict[str, Importer] = {
    importer.name: importer
    for importer in (
        BraTS2021Importer(), BraTS2023Importer(), UcsfPdgmImporter(), UpennGbmImporter(),
        EgdImporter(), LumiereImporter(), RhuhGbmImporter(), BidsImporter(),
    )
}


def import_dataset(format: str, root: str | os.PathLike[str],
                   options: Mapping[str, str] | None = None, *,
                   label_map: str | None = None) -> ImportResult:
    """Rows (absolute paths as text) and metadata of the dataset of layout ``format`` at ``root``.

    ``label_map`` (a preset name) replaces the importer's declared map, for releases that
    recoded their segmentations; the importers' defaults are documented in ``data_manifests/``.
    Dataset-specific notes are emitted as :class:`DatasetWarning`.
    """
    importer = IMPORTERS.get(format)
    if importer is None:
        raise InputError(f"unknown dataset format {format!r}; formats: {', '.join(IMPORTERS)}")
    rows, meta = importer.run(Path(root), dict(options or {}))
    if label_map is not None:
        meta = meta.model_copy(update={"label_map": LabelMap.from_spec(label_map).to_spec()})
    if meta.label_map is None and any(row.get("mask_tumor") for row in rows):
        raise InputError(f"{format}: tumour segmentations found under {root} but no label map "
                         f"(codes are never guessed): pass --label-map PRESET"
                         + (" or add a *_dseg.tsv (index, name)" if format == "bids" else ""))
    return rows, meta


def paths_outside(rows: list[Row], meta: ManifestMeta, folder: Path) -> int:
    """How many path cells of ``rows`` (absolute) lie outside ``folder``."""
    columns = set(path_columns(meta))
    folder = Path(folder).resolve()
    return sum(1 for row in rows for k, v in row.items()
               if k in columns and v and not Path(v).resolve().is_relative_to(folder))


def import_to_manifest(format: str, root: str | os.PathLike[str],
                       output: str | os.PathLike[str],
                       options: Mapping[str, str] | None = None, *,
                       label_map: str | None = None) -> ImportResult:
    """Import a dataset and write it as a manifest at ``output`` (paths relative to it)."""
    rows, meta = import_dataset(format, root, options, label_map=label_map)
    output = Path(output)
    folder = Path(output).resolve().parent
    outside = paths_outside(rows, meta, folder)
    if outside:
        warn(format, f"{outside} path(s) lie outside {folder}; validate with "
                     f"--allow-outside-root, or write the manifest in a folder above the data")
    write_manifest(output, reroot_rows(rows, meta, folder, folder), meta)
    return rows, meta
