"""What every dataset importer shares: the interface, warnings and tree/table helpers.

An importer walks a public dataset's folder as its maintainers publish it and returns manifest
v1 rows (absolute paths as text, label values already mapped onto the canonical vocabularies)
plus a :class:`ManifestMeta` that declares the dataset's label map. It never writes images.
"""

from __future__ import annotations

import abc
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

import pandas as pd

from imagination.cohort.manifest import ManifestMeta
from imagination.errors import InputError

Row = dict[str, str | None]
ImportResult = tuple[list[Row], ManifestMeta]

NIFTI_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii")


class DatasetWarning(UserWarning):
    """Something an importer user should know (a documented trap, a skipped case)."""


def warn(dataset: str, message: str) -> None:
    warnings.warn(f"{dataset}: {message}", DatasetWarning, stacklevel=3)


class Importer(abc.ABC):
    """One public dataset layout. Subclasses set the class attributes and implement ``scan``."""

    #: format name on the command line; also the manifest ``name`` and the alias namespace
    name: str = ""
    #: one-line description for ``--help``
    title: str = ""
    #: options accepted with ``-O key=value`` and what they do
    options: ClassVar[Mapping[str, str]] = {}

    def run(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(f"{k} ({v})" for k, v in self.options.items()) or "none"
            raise InputError(f"{self.name}: unknown option(s) {', '.join(unknown)}; "
                             f"allowed: {allowed}")
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise InputError(f"{self.name}: {root} is not a folder")
        try:
            rows, meta = self.scan(root, options)
        except OSError as exc:  # unreadable folder or file inside the tree
            raise InputError(f"{self.name}: cannot read {exc.filename or root}: "
                             f"{exc.strerror or exc}") from exc
        if not rows:
            raise InputError(f"{self.name}: no case found under {root}; expected "
                             f"{self.expected_layout()}")
        seen: dict[str, Row] = {}
        for row in rows:
            case_id = row["case_id"] or ""
            if case_id in seen:
                raise InputError(f"{self.name}: case {case_id} appears twice under {root} "
                                 f"(e.g. {seen[case_id].get('t1c') or seen[case_id].get('t1')} "
                                 f"and {row.get('t1c') or row.get('t1')}); keep one copy")
            seen[case_id] = row
        return rows, meta

    @abc.abstractmethod
    def scan(self, root: Path, options: Mapping[str, str]) -> ImportResult:
        """Walk the tree under ``root`` and build rows and metadata."""

    @abc.abstractmethod
    def expected_layout(self) -> str:
        """Short description of the expected layout, used in error messages."""


def option_choice(dataset: str, options: Mapping[str, str], key: str, choices: Iterable[str],
                  default: str) -> str:
    """Value of a choice option, checked against ``choices``."""
    allowed = tuple(choices)
    value = options.get(key, default).strip().lower()
    if value not in allowed:
        raise InputError(f"{dataset}: option {key}={value!r}; choose one of {', '.join(allowed)}")
    return value


def option_flag(dataset: str, options: Mapping[str, str], key: str) -> bool:
    value = options.get(key, "false").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InputError(f"{dataset}: option {key}={value!r} is not true/false")


def nifti(folder: Path, stem: str) -> Path | None:
    """``folder/stem.nii.gz`` or ``folder/stem.nii`` if it is a file."""
    for suffix in NIFTI_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def nifti_ending(folder: Path, ending: str) -> Path | None:
    """The one NIfTI file in ``folder`` whose name ends with ``ending`` + suffix, if any.

    Some archives wrap each file in a folder of the same name (``X.nii/X.nii``); both count.
    """
    candidates = (p for suffix in NIFTI_SUFFIXES for p in folder.glob(f"*{ending}{suffix}"))
    hits = sorted(p if p.is_file() else p / p.name for p in candidates
                  if p.is_file() or (p / p.name).is_file())
    if len(hits) > 1:
        raise InputError(f"folder {folder}: several files end with {ending!r}: "
                         f"{', '.join(p.name for p in hits)}")
    return hits[0] if hits else None


def subfolders(folder: Path, pattern: str = "*") -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.is_dir())


def find_table(dataset: str, root: Path, patterns: Iterable[str],
               explicit: str | None = None, *, depth: int = 2) -> Path | None:
    """A clinical table: the explicit path if given, else the newest match near ``root``.

    Looks in ``root`` and up to ``depth`` folder levels below it; among several matches (e.g.
    ``_v1``/``_v2`` releases) the one whose name sorts last wins.
    """
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InputError(f"{dataset}: table {path} not found")
        return path.resolve()
    hits: list[Path] = []
    for pattern in patterns:
        for level in range(depth + 1):
            glob = "/".join(["*"] * level + [pattern])
            hits.extend(p for p in root.glob(glob) if p.is_file())
    if not hits:
        return None
    return sorted(set(hits), key=lambda p: (p.name, str(p)))[-1].resolve()


def read_table(dataset: str, path: Path, required: Iterable[str] = ()) -> list[dict[str, str]]:
    """Rows of a CSV/TSV table as stripped text (empty cells are ``""``)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls"):
        raise InputError(f"{dataset}: table {path} is a spreadsheet; save it as CSV and pass "
                         f"-O clinical=PATH.csv")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            sep="\t" if suffix == ".tsv" else ",")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            OSError) as exc:
        raise InputError(f"{dataset}: cannot read table {path}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{dataset}: table {path} lacks column(s) {', '.join(missing)}; "
                         f"it has {', '.join(frame.columns)}")
    return [{k: str(v).strip() for k, v in rec.items()} for rec in frame.to_dict("records")]


def column_starting(dataset: str, path: Path, rows: list[dict[str, str]],
                    prefix: str) -> str | None:
    """The column whose name starts with ``prefix`` (long self-describing headers)."""
    if not rows:
        return None
    names = [c for c in rows[0] if c.startswith(prefix)]
    if len(names) > 1:
        raise InputError(f"{dataset}: table {path} has several columns starting with "
                         f"{prefix!r}: {names}")
    return names[0] if names else None


def as_text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def case_folders(root: Path, pattern: str, *, depth: int = 2) -> list[Path]:
    """Folders named by the regular expression ``pattern`` in ``root`` or up to ``depth`` below.

    Public archives often unpack into a wrapper folder (``UCSF-PDGM-v5/``,
    ``RSNA_ASNR_MICCAI_BraTS2021_TrainingData_16July2021/``); this finds the cases either way.
    """
    regex = re.compile(pattern)
    found: dict[str, Path] = {}
    frontier = [root]
    for _ in range(depth + 1):
        next_frontier: list[Path] = []
        for folder in frontier:
            for child in subfolders(folder):
                if regex.fullmatch(child.name):
                    found.setdefault(str(child), child)
                else:
                    next_frontier.append(child)
        frontier = next_frontier
    return sorted(found.values(), key=lambda p: (p.name, str(p)))
