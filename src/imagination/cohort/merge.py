"""Merge manifests into one: shared metadata, re-rooted paths, subjects de-duplicated.

A subject is known by the same identities validation uses (``subject_id``,
``<manifest name>:<subject_id>`` and every ``dataset:id`` of ``subject_aliases``). A subject
found in several manifests (e.g. a UCSF-PDGM patient whose ``BraTS21 ID`` names a BraTS 2021
case) is kept once: its cases from the first manifest listed are kept, those from later
manifests are dropped, and every drop is reported as an :class:`Overlap`. Kept cases gain the
other datasets' identities, and their own ``<source name>:<subject_id>``, as aliases, so that
later merges and leakage checks still recognise them.

A merged manifest carries one label map, so manifests whose tumour masks use different codes
are refused (remapping would mean writing new segmentation files); re-import with
``--label-map`` if a release was recoded. Label vocabularies and the reference modality must
agree as well; extra modalities and resampled modalities are united.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from imagination.atomic import atomic_write_text
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.manifest import (
    Manifest,
    ManifestMeta,
    image_columns,
    read_manifest,
)
from imagination.cohort.validation.identity import Entry, dataset_token, subject_groups
from imagination.cohort.vocabulary import (
    ALIAS_COLUMN,
    LABEL_COLUMNS,
    MASKS,
    mask_column,
)
from imagination.errors import InputError

Row = dict[str, str | None]


@dataclass(frozen=True)
class OverlapMember:
    """The cases of one subject in one of the merged manifests."""

    dataset: str
    manifest: Path
    subject_id: str
    case_ids: tuple[str, ...]
    kept: bool


@dataclass(frozen=True)
class Overlap:
    """One subject present in several manifests (a leakage risk), and what the merge kept."""

    members: tuple[OverlapMember, ...]

    @property
    def kept(self) -> OverlapMember:
        return next(m for m in self.members if m.kept)

    @property
    def dropped(self) -> tuple[OverlapMember, ...]:
        return tuple(m for m in self.members if not m.kept)

    def describe(self) -> str:
        names = " = ".join(f"{m.dataset}:{m.subject_id}" for m in self.members)
        dropped = "; ".join(f"dropped {m.dataset} {', '.join(m.case_ids)}" for m in self.dropped)
        return f"{names}: kept {self.kept.dataset} ({len(self.kept.case_ids)} case(s)); {dropped}"


@dataclass
class MergeResult:
    rows: list[Row]
    meta: ManifestMeta
    overlaps: list[Overlap] = field(default_factory=list)

    def paths_outside(self) -> int:
        """How many path cells leave the output manifest's folder (``..`` or absolute)."""
        columns = set(path_columns(self.meta))
        return sum(1 for row in self.rows for k, v in row.items() if k in columns and v
                   and (Path(v).is_absolute() or Path(v).parts[:1] == ("..",)))

    @property
    def dropped_case_ids(self) -> list[str]:
        return [c for o in self.overlaps for m in o.dropped for c in m.case_ids]


def path_columns(meta: ManifestMeta) -> tuple[str, ...]:
    return image_columns(meta) + tuple(mask_column(m) for m in MASKS)


def reroot_path(value: str, source_root: Path, target_root: Path) -> str:
    """``value`` (relative to ``source_root`` or absolute) written relative to ``target_root``."""
    path = Path(value)
    absolute = path if path.is_absolute() else source_root / path
    absolute = absolute.resolve()
    try:
        return Path(os.path.relpath(absolute, target_root)).as_posix()
    except ValueError:  # another drive (Windows): keep it absolute
        return str(absolute)


def reroot_rows(rows: Iterable[Row], meta: ManifestMeta, source_root: Path,
                target_root: Path) -> list[Row]:
    """Copies of ``rows`` whose path cells are relative to ``target_root``."""
    columns = set(path_columns(meta))
    target = Path(target_root).resolve()
    return [{k: reroot_path(v, source_root, target) if k in columns and v else v
             for k, v in row.items()} for row in rows]


def merge_manifests(paths: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str],
                    *, name: str | None = None) -> MergeResult:
    """Merge the manifests at ``paths`` into rows and metadata for a manifest at ``output``."""
    if len(paths) < 2:
        raise InputError("merge needs at least two manifests")
    manifests = [read_manifest(p) for p in paths]
    seen: dict[Path, int] = {}
    for i, manifest in enumerate(manifests):
        if manifest.path in seen:
            raise InputError(f"manifest {manifest.path} is listed twice")
        seen[manifest.path] = i
    meta = merged_meta(manifests, name=name)
    entries = [Entry(m, row, i) for m in manifests for i, row in enumerate(m.rows)]
    groups = subject_groups(entries)
    order = {id(m): i for i, m in enumerate(manifests)}
    dropped: set[int] = set()
    extra_aliases: dict[int, set[str]] = defaultdict(set)
    overlaps: list[Overlap] = []
    for group in groups:
        owners = sorted({order[id(entries[i].manifest)] for i in group})
        if len(owners) < 2:
            continue
        first = owners[0]
        identities = {key for i in group for kind, key in entries[i].identities()
                      if kind == "qualified"}
        members: dict[tuple[int, str], list[int]] = defaultdict(list)
        for i in group:
            members[(order[id(entries[i].manifest)], entries[i].row.get("subject_id") or "")
                    ].append(i)
        for i in group:
            if order[id(entries[i].manifest)] == first:
                extra_aliases[i] |= identities
            else:
                dropped.add(i)
        overlaps.append(Overlap(tuple(
            OverlapMember(dataset=entries[idx[0]].dataset, manifest=entries[idx[0]].manifest.path,
                          subject_id=subject,
                          case_ids=tuple(entries[i].row.get("case_id") or "" for i in idx),
                          kept=rank == first)
            for (rank, subject), idx in sorted(members.items()))))
    target_root = Path(output).resolve().parent
    rows: list[Row] = []
    owner_of: dict[str, Entry] = {}
    for i, entry in enumerate(entries):
        if i in dropped:
            continue
        case_id = entry.row.get("case_id") or ""
        if case_id in owner_of:
            raise InputError(f"case_id {case_id!r} is in {owner_of[case_id].manifest.path} and "
                             f"in {entry.manifest.path}; case ids must be unique after a merge")
        owner_of[case_id] = entry
        (row,) = reroot_rows([dict(entry.row)], entry.manifest.meta, entry.manifest.root,
                             target_root)
        row[ALIAS_COLUMN] = _aliases(entry, extra_aliases.get(i, set()), meta.name or "")
        rows.append(row)
    return MergeResult(rows=rows, meta=meta, overlaps=overlaps)


def _aliases(entry: Entry, extra: set[str], merged_name: str) -> str | None:
    """Existing aliases, the source dataset's own identity and the overlapping ones."""
    subject = entry.row.get("subject_id")
    current = [a.strip() for a in (entry.row.get(ALIAS_COLUMN) or "").split(";") if a.strip()]
    wanted = (extra | {f"{entry.dataset}:{subject}"}) - {f"{dataset_token(merged_name)}:"
                                                          f"{subject}"}
    merged = list(dict.fromkeys(current + sorted(wanted - set(current))))
    return ";".join(merged) or None


def merged_meta(manifests: Sequence[Manifest], *, name: str | None = None) -> ManifestMeta:
    """One metadata block for all ``manifests``, or an error naming the disagreement."""
    references = {m.meta.reference for m in manifests}
    if len(references) > 1:
        raise InputError("cannot merge: the manifests use different reference modalities ("
                         + ", ".join(f"{m.path.name}: {m.meta.reference}" for m in manifests)
                         + ")")
    return ManifestMeta(
        name=name or "merged",
        label_map=_label_map(manifests),
        vocabularies=_vocabularies(manifests),
        extra_modalities=list(dict.fromkeys(x for m in manifests for x in m.meta.extra_modalities)),
        resample=list(dict.fromkeys(x for m in manifests for x in m.meta.resample)),
        reference=references.pop(),
    )


def _label_map(manifests: Sequence[Manifest]) -> str | dict[int, str] | None:
    declared: list[tuple[Manifest, LabelMap]] = []
    for manifest in manifests:
        if not any(row.get(mask_column("tumor")) for row in manifest.rows):
            continue
        label_map = manifest.meta.label_map_object()
        if label_map is None:
            raise InputError(f"cannot merge: {manifest.path} has tumour masks but no label map")
        declared.append((manifest, label_map))
    if not declared:
        return None
    first_manifest, first = declared[0]
    for manifest, label_map in declared[1:]:
        if dict(label_map.codes) != dict(first.codes):
            raise InputError(
                f"cannot merge: {first_manifest.path.name} codes tumour masks as "
                f"{_describe(first)} but {manifest.path.name} as {_describe(label_map)}; a "
                f"merged manifest carries one label map. Import BraTS-2021-coded datasets with "
                f"their documented map (or --label-map PRESET if a release was recoded), or "
                f"merge them separately")
    names = {lm.name for _, lm in declared}
    return first.to_spec() if len(names) == 1 else dict(sorted(first.codes.items()))


def _describe(label_map: LabelMap) -> str:
    codes = ", ".join(f"{c} {r}" for c, r in sorted(label_map.codes.items()))
    return f"{label_map.name} ({codes})" if label_map.name else f"({codes})"


def _vocabularies(manifests: Sequence[Manifest]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for column in LABEL_COLUMNS:
        users = [m for m in manifests if any(row.get(column) for row in m.rows)]
        vocabularies = {m.path.name: m.meta.vocabulary(column) for m in users}
        if len(set(vocabularies.values())) > 1:
            raise InputError(f"cannot merge: column {column!r} has different vocabularies: "
                             + "; ".join(f"{k}: {list(v)}" for k, v in vocabularies.items()))
        if vocabularies:
            out[column] = list(next(iter(vocabularies.values())))
    return out


def write_overlap_report(path: str | os.PathLike[str], overlaps: Sequence[Overlap]) -> Path:
    """One row per case of every overlapping subject: group, dataset, subject, case, kept."""
    rows = [{"group": str(n), "dataset": m.dataset, "manifest": str(m.manifest),
             "subject_id": m.subject_id, "case_id": case_id, "kept": str(m.kept).lower()}
            for n, overlap in enumerate(overlaps, start=1) for m in overlap.members
            for case_id in m.case_ids]
    frame = pd.DataFrame(rows, columns=["group", "dataset", "manifest", "subject_id", "case_id",
                                        "kept"])
    atomic_write_text(Path(path), frame.to_csv(index=False))
    return Path(path)
