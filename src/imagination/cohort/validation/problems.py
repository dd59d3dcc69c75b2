"""The problem record validation reports, and the stable codes it uses.

Codes (stable strings; severity in brackets):

manifest and metadata
    ``unreadable_manifest`` [error]  the manifest cannot be read or parsed at all
    ``bad_metadata`` [error]         invalid metadata: label map, vocabularies, resample, reference
    ``missing_column`` [error]       a required column (case_id, subject_id, site) is absent
    ``no_cases`` [error]             the manifest lists no case
    ``unknown_column`` [warning]     a column the manifest format does not know (ignored)
    ``duplicate_column`` [error]     a CSV/TSV column named twice in the header
rows
    ``missing_value`` [error]        a required cell (case_id, subject_id, site) is empty
    ``invalid_id`` [error]           a case_id or subject_id that is not a name (``names.py``:
                                     ASCII letters, digits, ``-_.``, no leading dot, <= 128)
    ``label_not_in_vocabulary`` [error]  a label value outside the column's vocabulary
    ``invalid_covariate`` [error]    a covariate that is not a number or is implausible
    ``invalid_alias`` [error]        a ``subject_aliases`` entry not written ``dataset:id``
    ``path_outside_root`` [error]    a path leaving the manifest's folder (``--allow-outside-root``)
    ``invalid_days`` [error]         days_from_baseline or days_since_radiotherapy_end not a whole
                                     number
    ``identifying_name`` [warning]   an id or file name holding what looks like a date, a person
                                     name (``Family^Given``), a record number or an e-mail address
identity and leakage
    ``duplicate_case_id`` [error]    a case_id used twice (in one or several manifests)
    ``subject_multiple_sites`` [error]   one subject filed under two sites
    ``subject_in_several_manifests`` [error]  one subject (by id or alias) in two manifests
    ``duplicate_file`` [error]       one file in two columns or two cases (truth as input included)
longitudinal links (``validation/longitudinal.py``)
    ``baseline_not_found`` [error]   baseline_case_id names no case of the cohort
    ``baseline_other_subject`` [error]  the baseline belongs to another subject
    ``baseline_not_earlier`` [error] the baseline's days_from_baseline is not smaller
    ``missing_days`` [error]         a linked follow-up or its baseline lacks days_from_baseline
    ``baseline_cycle`` [error]       baseline links loop (a case is its own ancestor)
    ``label_without_baseline`` [error]  a response or progression_type without baseline_case_id
    ``longitudinal_grid_mismatch`` [error]  a follow-up's reference grid differs from its
                                     baseline's and the manifest does not declare
                                     ``longitudinal_registration: registered``
files
    ``missing_file`` / ``unreadable_file`` [error]  absent, unreadable or unsupported file
    ``not_nifti`` / ``truncated_gzip`` / ``truncated_file`` [error]  not NIfTI, or cut short
    ``implausible_header`` [error]   a header declaring more bytes than the file can hold (or
                                     than 8 GiB): refused before anything is allocated
    ``not_3d`` [error]               not a 3-D volume (a trailing singleton axis is allowed)
    ``bad_affine`` [error]           singular or non-finite affine
    ``grid_mismatch`` [error]        grid differs from the reference (which property, how much)
    ``no_overlap`` [error] / ``partial_overlap`` [warning]  a file marked for resampling misses
                                     all (or more than half) of the reference field of view
    ``nonfinite_voxels`` [error]     NaN or Inf voxels
    ``non_integer_mask`` / ``negative_mask_codes`` [error]  a mask that is not a code map
    ``empty_mask`` [error for tumor and brain masks, warning for recurrence and cavity]
    ``missing_label_map`` [error]    a tumour mask (or a multi-code recurrence mask) but no
                                     label map in the metadata
    ``unknown_mask_codes`` [error]   tumour or recurrence codes the label map does not declare;
                                     cavity codes other than 1 or the label map's RC codes
    ``truth_as_input`` [error]       a recurrence mask with the same voxels as an input file
    ``no_orientation`` [warning]     qform_code and sform_code both 0
    ``qform_sform_mismatch`` [warning]  qform and sform disagree (> 0.1 mm in the field of view)
    ``sheared_affine`` [warning]     the affine's axes are not orthogonal
    ``identifying_header_text`` [warning]  NIfTI header text that may identify the patient
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final, Literal

Severity = Literal["error", "warning"]

#: Every code validation may report (see the module docstring).
CODES: Final[tuple[str, ...]] = (
    "unreadable_manifest", "bad_metadata", "missing_column", "no_cases", "unknown_column",
    "duplicate_column",
    "missing_value", "invalid_id", "label_not_in_vocabulary", "invalid_covariate", "invalid_alias",
    "invalid_days", "path_outside_root", "identifying_name", "duplicate_case_id",
    "subject_multiple_sites",
    "subject_in_several_manifests", "duplicate_file",
    "baseline_not_found", "baseline_other_subject", "baseline_not_earlier", "missing_days",
    "baseline_cycle", "label_without_baseline", "longitudinal_grid_mismatch",
    "missing_file", "unreadable_file",
    "not_nifti", "truncated_gzip", "truncated_file", "implausible_header", "not_3d",
    "bad_affine", "grid_mismatch",
    "no_overlap", "partial_overlap",
    "nonfinite_voxels", "non_integer_mask", "negative_mask_codes", "empty_mask",
    "missing_label_map", "unknown_mask_codes", "truth_as_input", "no_orientation",
    "qform_sform_mismatch", "sheared_affine", "identifying_header_text",
)


@dataclass(frozen=True)
class Problem:
    """One finding: where (case, column, file), what (code, message) and how bad."""

    case_id: str | None
    column: str | None
    file: str | None
    code: str
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = ", ".join(f"{k} {v}" for k, v in
                          (("case", self.case_id), ("column", self.column), ("file", self.file))
                          if v)
        return f"{self.severity} [{self.code}] {where}: {self.message}"
