"""Manifest v1: read and write CSV, YAML and JSON forms; build :class:`Case` records.

A manifest is a table (one row per case) plus metadata. In YAML/JSON form the metadata are
top-level keys and the rows are the list ``cases``. In CSV form the metadata live in a side
file with the same stem and the suffix ``.meta.yaml`` (``cohort.csv`` -> ``cohort.meta.yaml``).

Reading is lenient (every cell is kept as text, empty cells are missing) so that validation can
report every problem in one pass; :meth:`Manifest.cases` builds typed records.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imagination.atomic import atomic_write_text
from imagination.cohort.case import Case
from imagination.cohort.labelmap import PRESETS, LabelMap
from imagination.cohort.vocabulary import (
    ALIAS_COLUMN,
    BASE_REGIONS,
    COVARIATES,
    DAY_COLUMNS,
    DEFAULT_VOCABULARIES,
    ID_COLUMNS,
    LABEL_COLUMNS,
    LONGITUDINAL_COLUMNS,
    MASKS,
    MODALITIES,
    TISSUES,
    mask_column,
    tissue_column,
)
from imagination.errors import InputError
from imagination.names import name_problem
from imagination.safe_yaml import YamlError, load_yaml_file, read_text_file

MANIFEST_VERSION = 1
META_SUFFIX = ".meta.yaml"
TABLE_SUFFIXES = (".csv", ".tsv")
DOC_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestMeta(BaseModel):
    """Manifest-level declarations shared by all rows."""

    model_config = ConfigDict(extra="forbid")

    imagination_manifest: Literal[1] = Field(
        default=MANIFEST_VERSION, description="Manifest format version."
    )
    name: str | None = Field(default=None, description="Dataset or cohort name.")
    label_map: str | dict[int, Literal["ET", "NETC", "SNFH", "RC"]] | None = Field(
        default=None,
        description=(
            "Segmentation codes -> canonical regions, or a preset name "
            f"({', '.join(PRESETS)}). Required when a tumour mask is given; never guessed."
        ),
    )
    vocabularies: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Allowed values per label column; defaults apply to columns not listed.",
    )
    extra_modalities: list[str] = Field(
        default_factory=list, description="Image columns beyond the canonical modalities."
    )
    resample: list[str] = Field(
        default_factory=list,
        description="Modalities on their own grid (typically pet), resampled onto the reference.",
    )
    reference: str = Field(
        default="t1c", description="Modality whose grid all other images and masks share."
    )
    longitudinal_registration: Literal["same_grid", "registered"] | None = Field(
        default=None,
        description=(
            "How a follow-up and its baseline_case_id relate in space: same_grid (default when "
            "absent; checked) or registered (co-registered in world coordinates on different "
            "grids; pairs are resampled by whoever compares them)."
        ),
    )

    @field_validator("extra_modalities")
    @classmethod
    def _extra_not_canonical(cls, value: list[str]) -> list[str]:
        clash = [m for m in value if m in MODALITIES]
        if clash:
            raise ValueError(f"{clash} are canonical modalities, not extra ones")
        return value

    def vocabulary(self, column: str) -> tuple[str, ...]:
        if column in self.vocabularies:
            return tuple(self.vocabularies[column])
        return DEFAULT_VOCABULARIES[column]

    def modalities(self) -> tuple[str, ...]:
        return MODALITIES + tuple(self.extra_modalities)

    def label_map_object(self) -> LabelMap | None:
        return None if self.label_map is None else LabelMap.from_spec(self.label_map)


def image_columns(meta: ManifestMeta) -> tuple[str, ...]:
    return meta.modalities()


def mask_columns() -> tuple[str, ...]:
    return tuple(mask_column(m) for m in MASKS)


def tissue_columns() -> tuple[str, ...]:
    return tuple(tissue_column(t) for t in TISSUES)


def known_columns(meta: ManifestMeta) -> tuple[str, ...]:
    return (ID_COLUMNS + (ALIAS_COLUMN,) + image_columns(meta) + mask_columns()
            + tissue_columns() + LONGITUDINAL_COLUMNS + LABEL_COLUMNS + tuple(COVARIATES))


def parse_days(raw: str | None) -> int | None:
    """An integer number of days (``"12"``, ``"12.0"``, ``"-3"``); ``None`` when empty.

    Raises ``ValueError`` for anything else (text, fractions, NaN)."""
    if raw is None or raw == "":
        return None
    value = float(raw)
    if not math.isfinite(value) or not value.is_integer():
        raise ValueError(f"{raw!r} is not a whole number of days")
    return int(value)


class Manifest:
    """A manifest file as read: its metadata and its rows as text (``None`` = missing)."""

    def __init__(self, path: Path, meta: ManifestMeta, rows: list[dict[str, str | None]], *,
                 duplicate_columns: Mapping[str, list[int]] | None = None) -> None:
        self.path = Path(path).resolve()
        self.meta = meta
        self.rows = rows
        #: columns a CSV header names more than once -> their 1-based positions (an error)
        self.duplicate_columns = dict(duplicate_columns or {})

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def resolve(self, value: str) -> Path:
        """Absolute path of a path cell (relative to the manifest's folder)."""
        p = Path(value)
        return (p if p.is_absolute() else self.root / p).resolve()

    def is_inside_root(self, value: str) -> bool:
        return self.resolve(value).is_relative_to(self.root)

    def case(self, row: Mapping[str, str | None]) -> Case:
        """Build the typed :class:`Case` of one row (columns are assumed validated)."""
        missing = [c for c in ("case_id", "subject_id", "site") if not row.get(c)]
        if missing:
            raise InputError(f"manifest {self.path}: a row lacks {', '.join(missing)}")
        for column in ("case_id", "subject_id"):
            if why := name_problem(row[column]):
                raise InputError(f"manifest {self.path}, column {column}: {row[column]!r} is "
                                 f"not a valid name: it {why}")
        images = {m: self.resolve(v) for m in image_columns(self.meta) if (v := row.get(m))}
        masks = {m: self.resolve(v) for m in MASKS if (v := row.get(mask_column(m)))}
        tissues = {t: self.resolve(v) for t in TISSUES if (v := row.get(tissue_column(t)))}
        labels = {c: row.get(c) or None for c in LABEL_COLUMNS}
        covariates: dict[str, float | str | None] = {}
        for name, kind in COVARIATES.items():
            raw = row.get(name)
            if raw is None or raw == "":
                covariates[name] = None
            elif kind is float:
                try:
                    covariates[name] = float(raw)
                except ValueError as exc:
                    raise InputError(
                        f"case {row['case_id']}, column {name}: {raw!r} is not a number"
                    ) from exc
            else:
                covariates[name] = raw
        days: dict[str, int | None] = {}
        for name in DAY_COLUMNS:
            try:
                days[name] = parse_days(row.get(name))
            except ValueError:
                raise InputError(f"case {row['case_id']}, column {name}, manifest {self.path}: "
                                 f"{row.get(name)!r} is not a whole number of days") from None
        return Case(
            case_id=str(row["case_id"]),
            subject_id=str(row["subject_id"]),
            site=str(row["site"]),
            timepoint=row.get("timepoint") or None,
            images=images,
            masks=masks,
            tissues=tissues,
            labels=labels,
            covariates=covariates,
            label_map=self.meta.label_map_object(),
            resample=frozenset(self.meta.resample),
            reference=self.meta.reference,
            manifest=self.path,
            baseline_case_id=row.get("baseline_case_id") or None,
            days_from_baseline=days["days_from_baseline"],
            days_since_radiotherapy_end=days["days_since_radiotherapy_end"],
        )

    def cases(self) -> list[Case]:
        return [self.case(row) for row in self.rows]


def _clean(value: Any) -> str | None:
    """Normalise a cell to text; empty and NaN become ``None``."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def meta_path_for(table_path: Path) -> Path:
    """Side-file path of a CSV manifest's metadata."""
    return table_path.with_name(table_path.stem + META_SUFFIX)


def _parse_meta(raw: Any, source: Path) -> ManifestMeta:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"manifest {source}: metadata must be a mapping")
    try:
        return ManifestMeta.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(f"manifest {source}: invalid metadata: {problems}") from exc


def _load_document(path: Path) -> Any:
    """A YAML or JSON document through the one safe reader (duplicate keys, alias budget)."""
    try:
        return load_yaml_file(path)
    except YamlError as exc:
        raise InputError(f"manifest {path}: cannot parse: {exc}") from None


def _read_table(path: Path) -> tuple[list[dict[str, str | None]], dict[str, list[int]]]:
    """Rows of a CSV/TSV (first copy of each column) and the columns given more than once
    (name -> 1-based positions): a repeated column is an error, never silently resolved."""
    text = read_text_file(path)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, header=None,
                        sep="\t" if path.suffix.lower() == ".tsv" else ",")
    if frame.empty:
        return [], {}
    header = [str(_clean(v) or "") for v in frame.iloc[0]]
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, []).append(index + 1)
    duplicates = {name: where for name, where in positions.items() if len(where) > 1}
    first = [(name, where[0] - 1) for name, where in positions.items()]
    rows = [{name: _clean(record[i]) for name, i in first}
            for record in frame.iloc[1:].itertuples(index=False, name=None)]
    return rows, duplicates


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read a CSV/TSV (+ optional ``.meta.yaml`` side file), YAML or JSON manifest."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"manifest {path}: file not found")
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.csv"))[:3]
        raise InputError(f"manifest {path}: is a folder; name the manifest file in it"
                         + (f" ({', '.join(inside)})" if inside else ""))
    suffix = path.suffix.lower()
    duplicates: dict[str, list[int]] = {}
    try:
        if suffix in TABLE_SUFFIXES:
            rows, duplicates = _read_table(path)
            side = meta_path_for(path)
            meta_raw = _load_document(side) if side.exists() else {}
            meta = _parse_meta(meta_raw, side)
        elif suffix in DOC_SUFFIXES:
            doc = _load_document(path)
            if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
                raise InputError(f"manifest {path}: expected a mapping with a list 'cases'")
            cases = doc.pop("cases")
            meta = _parse_meta(doc, path)
            rows = []
            for i, entry in enumerate(cases):
                if not isinstance(entry, dict):
                    raise InputError(f"manifest {path}: entry {i} of 'cases' is not a mapping")
                rows.append({str(k): _clean(v) for k, v in entry.items()})
        else:
            raise InputError(
                f"manifest {path}: unknown format {suffix!r} (use .csv, .tsv, .yaml or .json)"
            )
    except YamlError as exc:
        raise InputError(f"manifest {path}: cannot parse: {exc}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"manifest {path}: cannot parse: {exc}") from exc
    return Manifest(path, meta, rows, duplicate_columns=duplicates)


def _ordered_columns(rows: Iterable[Mapping[str, Any]], meta: ManifestMeta) -> list[str]:
    present: dict[str, None] = {}
    for row in rows:
        present.update(dict.fromkeys(k for k, v in row.items() if _clean(v) is not None))
    order = [c for c in known_columns(meta) if c in present]
    return order + [c for c in present if c not in order]


def write_manifest(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]],
                   meta: ManifestMeta | None = None) -> Path:
    """Write a manifest in the form given by ``path``'s suffix (CSV writes a side file)."""
    path = Path(path)
    meta = meta or ManifestMeta()
    rows = [{k: _clean(v) for k, v in row.items()} for row in rows]
    columns = _ordered_columns(rows, meta)
    meta_doc = meta.model_dump(mode="json", exclude_defaults=False)
    if meta_doc.get("longitudinal_registration") is None:  # manifests without it stay as before
        meta_doc.pop("longitudinal_registration", None)
    if isinstance(meta.label_map, dict):
        meta_doc["label_map"] = {int(k): v for k, v in meta.label_map.items()}
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=columns)
        atomic_write_text(path, frame.to_csv(index=False, sep="\t" if suffix == ".tsv" else ","))
        atomic_write_text(meta_path_for(path), yaml.safe_dump(meta_doc, sort_keys=False))
    elif suffix in DOC_SUFFIXES:
        doc = dict(meta_doc)
        doc["cases"] = [{c: row[c] for c in columns if row.get(c) is not None} for row in rows]
        text = (json.dumps(doc, indent=2) + "\n" if suffix == ".json"
                else yaml.safe_dump(doc, sort_keys=False))
        atomic_write_text(path, text)
    else:
        raise InputError(f"manifest {path}: unknown format {suffix!r}")
    return path


def manifest_json_schema() -> dict[str, Any]:
    """JSON schema of the YAML/JSON manifest form (CSV rows have the same columns)."""
    meta_schema = ManifestMeta.model_json_schema()
    path_cell = {"type": "string", "description": "Path relative to the manifest file"}
    row_props: dict[str, Any] = {
        "case_id": {"type": "string"},
        "subject_id": {"type": "string", "description": "Groups cases of one patient"},
        "site": {"type": "string"},
        "timepoint": {"type": "string"},
        "baseline_case_id": {"type": "string",
                             "description": "case_id of the exam this follow-up is compared with"},
        "days_from_baseline": {"type": "integer",
                               "description": "days from the subject's first exam (day 0)"},
        "days_since_radiotherapy_end": {"type": "integer",
                                        "description": "days since radiotherapy ended"},
    }
    for modality in MODALITIES:
        row_props[modality] = {**path_cell, "description": f"{modality} image (NIfTI)"}
    for mask in MASKS:
        row_props[mask_column(mask)] = {**path_cell, "description": f"{mask} mask (NIfTI)"}
    for tissue in TISSUES:
        row_props[tissue_column(tissue)] = {
            **path_cell, "description": f"{tissue} probability map in [0, 1] on the case grid"}
    for column, vocab in DEFAULT_VOCABULARIES.items():
        row_props[column] = {"type": ["string", "null"],
                             "description": f"default vocabulary: {', '.join(vocab)}"}
    for name, kind in COVARIATES.items():
        row_props[name] = {"type": ["number", "null"] if kind is float else ["string", "null"]}
    schema = dict(meta_schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "imagination manifest v1"
    schema.setdefault("properties", {})["cases"] = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["case_id", "subject_id", "site"],
            "properties": row_props,
            "additionalProperties": {
                **path_cell, "description": "an extra modality declared in extra_modalities"},
        },
    }
    schema["required"] = ["cases"]
    schema["description"] = (
        "Manifest v1. Regions: " + ", ".join(BASE_REGIONS) + "; WT and TC are derived."
    )
    return schema
