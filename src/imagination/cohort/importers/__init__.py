"""Importers of public neuro-oncology datasets into manifest v1 rows (one module per layout)."""

from imagination.cohort.importers.base import DatasetWarning, Importer, ImportResult, Row
from imagination.cohort.importers.registry import IMPORTERS, import_dataset

__all__ = ["IMPORTERS", "DatasetWarning", "ImportResult", "Importer", "Row", "import_dataset"]
