"""Heuristics for identifying text in NIfTI header fields, ids and file names (privacy warnings).

Converters copy DICOM fields into ``descrip``, ``db_name``, ``aux_file`` or ``intent_name``.
Text that looks like a date, a DICOM person name (``Doe^John``), a ``Surname, Given`` pair, a
long record number, an e-mail address or names a patient field is flagged. The text itself is
never echoed back, so the report does not spread what it warns about.
"""

from __future__ import annotations

import re
from typing import Final

_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("a date", re.compile(
        r"(?<!\d)(19|20)\d{2}[-./]?(0[1-9]|1[0-2])[-./]?(0[1-9]|[12]\d|3[01])(?!\d)"
        r"|(?<!\d)(0?[1-9]|[12]\d|3[01])[./-](0?[1-9]|1[0-2])[./-]((19|20)\d{2}|\d{2})(?!\d)")),
    ("a DICOM person name (Family^Given)", re.compile(r"[^\W\d_]+\^[^\W\d_]*")),
    ("a 'Surname, Given' name", re.compile(r"\b[A-Z][a-z]+,\s*[A-Z][a-z]+\b")),
    ("a long record number", re.compile(r"(?<!\d)\d{7,}(?!\d)")),
    ("an e-mail address", re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")),
    ("a patient field", re.compile(
        r"\b(patient|pat(ient)?[ _-]?(id|name)|name|birth\w*|born|dob|mrn|geb(oren|urt\w*)?"
        r"|ssn|accession)\b", re.IGNORECASE)),
)


def identifying_reasons(text: str) -> list[str]:
    """What in ``text`` looks identifying (empty when nothing does)."""
    return [reason for reason, pattern in _PATTERNS if pattern.search(text)]


#: What an id or a file name may not look like: header-text patterns minus the word lists
#: (public ids such as ``Patient-001`` are pseudonyms, not names).
_NAME_REASONS: Final[tuple[str, ...]] = (
    "a date", "a DICOM person name (Family^Given)", "a long record number", "an e-mail address")


def identifying_name_reasons(text: str) -> list[str]:
    """What in an id or a file path looks identifying (empty when nothing does)."""
    return [reason for reason, pattern in _PATTERNS
            if reason in _NAME_REASONS and pattern.search(text)]
