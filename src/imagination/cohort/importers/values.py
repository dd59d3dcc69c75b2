"""Mapping a dataset's label and covariate spellings onto the canonical vocabularies.

Each importer passes an explicit table of the spellings its dataset uses. A value that is
neither in the table nor a declared "missing" token is an error naming the case, the column and
the file: an unknown spelling is never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from imagination.cohort.vocabulary import DEFAULT_VOCABULARIES
from imagination.errors import CaseError

#: spellings that mean "not known" in the public tables
MISSING: frozenset[str] = frozenset(
    {"", "na", "n/a", "nan", "none", "null", "unknown", "not available", "-", "missing"}
)

SEX: Mapping[str, str] = {"m": "M", "male": "M", "f": "F", "female": "F"}


def _key(raw: object) -> str:
    return str(raw).strip().lower()


def mapped(raw: object, table: Mapping[str, str | None], *, case_id: str, column: str,
           file: Path | str, missing: Iterable[str] = ()) -> str | None:
    """Canonical value of ``raw`` via ``table`` (lower-case keys); ``None`` when missing."""
    key = _key(raw)
    if key in table:
        return table[key]
    if key in MISSING or key in {_key(m) for m in missing}:
        return None
    known = sorted(k for k in table if k)
    raise CaseError(f"unexpected value {raw!r}; the importer knows {known}", case_id=case_id,
                    column=column, file=str(file), code="unknown_label_value")


def sex(raw: object, *, case_id: str, column: str, file: Path | str) -> str | None:
    return mapped(raw, SEX, case_id=case_id, column=column, file=file)


def number(raw: object, *, case_id: str, column: str, file: Path | str) -> str | None:
    """A numeric covariate as text (``"63"``, ``"1.5"``); missing tokens give ``None``."""
    key = _key(raw)
    if key in MISSING:
        return None
    text = key.removesuffix("t").strip()  # field strength written "1.5T"
    try:
        value = float(text)
    except ValueError as exc:
        raise CaseError(f"{raw!r} is not a number", case_id=case_id, column=column,
                        file=str(file), code="not_a_number") from exc
    if not math.isfinite(value):
        raise CaseError(f"{raw!r} is not finite", case_id=case_id, column=column,
                        file=str(file), code="not_a_number")
    return str(int(value)) if value.is_integer() else repr(value)


def grade(raw: object, *, case_id: str, column: str, file: Path | str,
          missing: Iterable[str] = ()) -> str | None:
    """WHO grade as ``"1"``..``"4"`` (accepts ``4``, ``"4.0"``, ``"IV"``, ``"grade 4"``)."""
    roman = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}
    key = _key(raw).removeprefix("grade").removeprefix("who").strip()
    if key in roman:
        return roman[key]
    if key in MISSING or key in {_key(m) for m in missing}:
        return None
    try:
        value = float(key)
    except ValueError:
        value = math.nan
    text = str(int(value)) if math.isfinite(value) and value.is_integer() else key
    if text in DEFAULT_VOCABULARIES["grade"]:
        return text
    raise CaseError(f"unexpected grade {raw!r}", case_id=case_id, column=column, file=str(file),
                    code="unknown_label_value")


def vocabularies_for(rows: Iterable[Mapping[str, str | None]]) -> dict[str, list[str]]:
    """The canonical vocabulary of every label column that has a value in ``rows``."""
    present = {c for row in rows for c, v in row.items() if v and c in DEFAULT_VOCABULARIES}
    return {c: list(DEFAULT_VOCABULARIES[c]) for c in DEFAULT_VOCABULARIES if c in present}
