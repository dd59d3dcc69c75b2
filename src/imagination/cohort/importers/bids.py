"""BIDS datasets, read by walking the tree with the BIDS naming rules (pybids is not needed).

``sub-<label>[/ses-<label>]/<datatype>/sub-<label>[_ses-<label>][_<key>-<value>...]_<suffix>``
with ``.nii``/``.nii.gz`` files. Modalities: ``anat`` ``T1w`` (``t1``; ``t1c`` when a ``ce-``
entity is present), ``T2w`` (``t2``), ``FLAIR`` (``flair``); ``dwi`` ``dwi``; ``pet`` ``pet``
(declared for resampling onto the reference grid). Masks come from ``derivatives/<pipeline>/``:
``*_dseg`` with ``desc-``/``label-`` ``tumor`` (tumour segmentation) and ``*_mask`` with
``brain`` (brain mask). The tumour label map is taken from ``--label-map`` or from a
``*_dseg.tsv`` (``index``, ``name``; names ET, NETC, SNFH, RC or NCR, ED); never guessed.
``participants.tsv`` gives ``age``, ``sex``, ``site``, ``scanner``, ``field_strength``,
``subject_aliases`` and canonical label columns (``idh``, ``mgmt``, ...), whose values must
already be canonical. A session is a case; its label is the timepoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from imagination.cohort.importers import values
from imagination.cohort.importers.base import (
    NIFTI_SUFFIXES,
    Importer,
    ImportResult,
    Row,
    read_table,
    subfolders,
)
from imagination.cohort.manifest import ManifestMeta
from imagination.cohort.vocabulary import BASE_REGIONS, COVARIATES, DEFAULT_VOCABULARIES
from imagination.errors import CaseError, InputError

ENTITY = re.compile(r"([a-zA-Z0-9]+)-([a-zA-Z0-9]+)")
#: (datatype, suffix) -> modality; T1w with a ``ce`` entity is ``t1c``
MODALITIES = {("anat", "T1w"): "t1", ("anat", "T2w"): "t2", ("anat", "FLAIR"): "flair",
              ("dwi", "dwi"): "dwi", ("pet", "pet"): "pet"}
TUMOR_WORDS = ("tumor", "tumour")
REGION_NAMES = {**{r.lower(): r for r in BASE_REGIONS}, "ncr": "NETC", "ed": "SNFH"}
PARTICIPANT_COLUMNS = ("site", "subject_aliases", *COVARIATES, *DEFAULT_VOCABULARIES)


def parse_name(path: Path) -> tuple[dict[str, str], str] | None:
    """``(entities, suffix)`` of a BIDS NIfTI file name, or ``None`` if it is not one."""
    name = path.name
    stem = next((name[: -len(s)] for s in NIFTI_SUFFIXES if name.endswith(s)), None)
    if stem is None:
        return None
    *pairs, suffix = stem.split("_")
    entities: dict[str, str] = {}
    for pair in pairs:
        match = ENTITY.fullmatch(pair)
        if match is None:
            return None
        entities[match.group(1)] = match.group(2)
    return (entities, suffix) if "sub" in entities else None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "bids"


class BidsImporter(Importer):
    name = "bids"
    title = "BIDS raw data + derivatives masks (tree walk; pybids not required)"
    options: ClassVar[Mapping[str, str]] = {
        "name": "dataset name used to namespace subject IDs (default: dataset_description Name)",
        "derivatives": "derivatives pipeline folder holding the masks (default: all)",
    }

    def expected_layout(self) -> str:
        return ("dataset_description.json and sub-<label>[/ses-<label>]/anat/"
                "sub-<label>[_ses-<label>]_{T1w,ce-<x>_T1w,T2w,FLAIR}.nii.gz")

    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        description = root / "dataset_description.json"
        if not description.is_file():
            raise InputError(f"{self.name}: {root} has no dataset_description.json; "
                             f"not a BIDS dataset root")
        try:
            described = json.loads(description.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.name}: cannot parse {description}: {exc}") from exc
        dataset = slug(options.get("name") or str(described.get("Name") or root.name))
        participants = self._participants(root)
        mask_roots = self._mask_roots(root, options.get("derivatives"))
        rows: list[Row] = []
        label_map_files: set[Path] = set()
        for subject in subfolders(root, "sub-*"):
            sessions = subfolders(subject, "ses-*") or [subject]
            for session in sessions:
                row = self._case(dataset, root, subject, session, mask_roots, label_map_files)
                if row is None:
                    continue
                row.update(participants.get(subject.name, {}))
                row["site"] = row.get("site") or dataset
                rows.append(row)
        label_map = self._label_map(label_map_files) if any(r.get("mask_tumor")
                                                             for r in rows) else None
        meta = ManifestMeta(name=dataset, label_map=label_map,
                            resample=["pet"] if any(r.get("pet") for r in rows) else [],
                            vocabularies=values.vocabularies_for(rows))
        return rows, meta

    def _case(self, dataset: str, root: Path, subject: Path, session: Path,
              mask_roots: list[Path], label_map_files: set[Path]) -> Row | None:
        found: dict[str, list[Path]] = {}
        for datatype in ("anat", "dwi", "pet"):
            for path in sorted((session / datatype).glob("*.nii*")):
                parsed = parse_name(path)
                if parsed is None:
                    continue
                entities, suffix = parsed
                modality = MODALITIES.get((datatype, suffix))
                if modality == "t1" and "ce" in entities:
                    modality = "t1c"
                if modality:
                    found.setdefault(modality, []).append(path)
        if not found:
            return None
        relative = session.relative_to(root)
        for mask_root in mask_roots:
            for path in sorted((mask_root / relative / "anat").glob("*.nii*")):
                parsed = parse_name(path)
                if parsed is None:
                    continue
                entities, suffix = parsed
                words = {entities.get("desc", "").lower(), entities.get("label", "").lower()}
                if suffix == "dseg" and words & set(TUMOR_WORDS):
                    found.setdefault("mask_tumor", []).append(path)
                    label_map_files.update(self._dseg_tables(path, mask_root))
                elif suffix == "mask" and "brain" in words:
                    found.setdefault("mask_brain", []).append(path)
        case_id = f"{dataset}-{subject.name}" + (
            f"_{session.name}" if session != subject else "")
        row: Row = {"case_id": case_id, "subject_id": f"{dataset}-{subject.name}",
                    "timepoint": session.name.removeprefix("ses-") if session != subject
                    else None}
        for column, paths in found.items():
            if len(paths) > 1:
                raise InputError(f"{self.name}: {session} has several {column} files "
                                 f"({', '.join(p.name for p in paths)}); keep one per session")
            row[column] = str(paths[0])
        return row

    @staticmethod
    def _dseg_tables(path: Path, mask_root: Path) -> list[Path]:
        """``*_dseg.tsv`` look-up tables next to ``path`` or at the pipeline root."""
        stem = next(path.name[: -len(s)] for s in NIFTI_SUFFIXES if path.name.endswith(s))
        beside = path.with_name(stem + ".tsv")
        tables = [beside] if beside.is_file() else []
        return tables or sorted(mask_root.glob("*dseg.tsv"))

    def _label_map(self, tables: set[Path]) -> dict[int, str] | None:
        """The codes of the ``*_dseg.tsv`` tables (``None`` without one: see import_dataset)."""
        if not tables:
            return None
        maps: dict[Path, dict[int, str]] = {}
        for table in sorted(tables):
            codes: dict[int, str] = {}
            for record in read_table(self.name, table, ("index", "name")):
                region = REGION_NAMES.get(record["name"].strip().lower())
                if region is None:
                    raise InputError(f"{self.name}: {table}: label {record['name']!r} is not "
                                     f"one of {', '.join(BASE_REGIONS)} (or NCR, ED)")
                try:
                    codes[int(record["index"])] = region
                except ValueError as exc:
                    raise InputError(f"{self.name}: {table}: index {record['index']!r} is "
                                     f"not an integer") from exc
            maps[table] = codes
        distinct = {tuple(sorted(m.items())) for m in maps.values()}
        if len(distinct) > 1:
            raise InputError(f"{self.name}: dseg tables disagree: "
                             + "; ".join(f"{t}: {m}" for t, m in maps.items()))
        return dict(next(iter(maps.values())))

    def _mask_roots(self, root: Path, wanted: str | None) -> list[Path]:
        derivatives = root / "derivatives"
        pipelines = subfolders(derivatives) if derivatives.is_dir() else []
        if wanted:
            chosen = [p for p in pipelines if p.name == wanted]
            if not chosen:
                raise InputError(f"{self.name}: no derivatives/{wanted} under {root}")
            return chosen
        return pipelines

    def _participants(self, root: Path) -> dict[str, Row]:
        path = root / "participants.tsv"
        if not path.is_file():
            return {}
        out: dict[str, Row] = {}
        for record in read_table(self.name, path, ("participant_id",)):
            subject = record["participant_id"]
            row: Row = {}
            for column in PARTICIPANT_COLUMNS:
                raw = record.get(column, "")
                if raw.strip().lower() in values.MISSING:
                    continue
                if column in DEFAULT_VOCABULARIES and raw not in DEFAULT_VOCABULARIES[column]:
                    raise CaseError(f"{raw!r} is not in the canonical vocabulary "
                                    f"{DEFAULT_VOCABULARIES[column]}", case_id=subject,
                                    column=column, file=str(path), code="unknown_label_value")
                if column == "sex":
                    raw = values.sex(raw, case_id=subject, column=column, file=path) or ""
                elif column in COVARIATES and COVARIATES[column] is float:
                    raw = values.number(raw, case_id=subject, column=column, file=path) or ""
                row[column] = raw or None
            out[subject] = row
        return out
