"""LUMIERE expert RANO ratings → ``response`` labels and ``baseline_case_id`` links.

``LUMIERE-ExpertRating-v202211.csv`` rates week folders (``Patient``, ``Date`` = the week
folder name, ``Rating (according to RANO, ...)`` = ``CR``/``PR``/``SD``/``PD``/``Pre-Op``/
``Post-Op``). Pairs are built as BraTPRO builds them (``MIC-DKFZ/BraTPRO``,
``dataset_download/download_and_convert_dataset.py``): per patient, in the table's order, the
first rated visit is skipped; the first later visit rated CR, PR, Pre-Op or Post-Op becomes the
baseline; each imaged visit rated CR/PR/SD/PD is a pair with the current baseline; the baseline
resets to every visit rated CR, PR or Post-Op. Only visits with an imported case count (BraTPRO:
visits with images). ``days_from_baseline`` comes from the folder name: 7 × week, plus K − 1 for
a ``-K`` suffix (``week-000-1`` pre-op day 0, ``week-000-2`` post-op day 1): LUMIERE gives weeks.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from imagination.cohort.importers.base import Row, column_starting, read_table, warn
from imagination.errors import CaseError, InputError

RATING_PREFIX = "Rating (according to RANO"
RESPONSES: Mapping[str, str] = {"cr": "CR", "pr": "PR", "sd": "SD", "pd": "PD"}
SURGERY = ("pre-op", "post-op")
#: ratings that may open the first baseline, and those that reset it (BraTPRO)
FIRST_BASELINE = ("cr", "pr", "pre-op", "post-op")
RESET_BASELINE = ("cr", "pr", "post-op")
WEEK = re.compile(r"week-(\d+)(?:-(\d+))?")


def week_days(folder: str) -> int | None:
    """Days from the first exam of a ``week-WWW[-K]`` folder name; ``None`` if not one."""
    match = WEEK.fullmatch(folder)
    if match is None:
        return None
    return 7 * int(match.group(1)) + (int(match.group(2)) - 1 if match.group(2) else 0)


def _ratings(dataset: str, path: Path) -> dict[str, list[tuple[str, str]]]:
    """Patient → [(week folder, rating key)] in the table's order (empty ratings dropped)."""
    table = read_table(dataset, path, ("Patient", "Date"))
    column = column_starting(dataset, path, table, RATING_PREFIX)
    if column is None:
        raise InputError(f"{dataset}: table {path} has no column starting with "
                         f"{RATING_PREFIX!r}")
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in table:
        raw = record[column].strip()
        key = raw.lower()
        if not key:
            continue
        if key not in RESPONSES and key not in SURGERY:
            raise CaseError(f"unexpected rating {raw!r}; the importer knows "
                            f"{sorted((*RESPONSES, *SURGERY))}",
                            case_id=f"LUMIERE-{record['Patient']}_{record['Date']}",
                            column=column, file=str(path), code="unknown_label_value")
        out[record["Patient"]].append((record["Date"], key))
    return out


def link_ratings(dataset: str, path: Path, rows: list[Row]) -> None:
    """Add ``days_from_baseline`` to every row, and ``response`` + ``baseline_case_id`` to the
    rows BraTPRO pairs (rows are keyed by ``LUMIERE-<patient>_<week>``)."""
    by_id = {str(row["case_id"]): row for row in rows}
    for row in rows:
        row["days_from_baseline"] = week_days(str(row["timepoint"]))
    unimaged = 0
    for patient, visits in _ratings(dataset, path).items():
        baseline: str | None = None
        for week, rating in visits[1:]:
            case_id = f"LUMIERE-{patient}_{week}"
            row = by_id.get(case_id)
            if row is None:
                unimaged += 1
                continue
            if baseline is None:
                if rating in FIRST_BASELINE:
                    baseline = case_id
                continue
            if rating in RESPONSES:
                row["baseline_case_id"] = baseline
                row["response"] = RESPONSES[rating]
            if rating in RESET_BASELINE:
                baseline = case_id
    if unimaged:
        warn(dataset, f"{unimaged} expert RANO rating(s) name a week without imported images "
                      "and were left out of the pairs (as BraTPRO does)")
