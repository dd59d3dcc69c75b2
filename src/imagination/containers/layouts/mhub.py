"""``mhub``: MHub.ai model containers (``/app/data/input_data`` -> ``/app/data/output_data``).

MHub reads DICOM by default; NIfTI workflows read ``<modality>.nii.gz`` (option ``inputs``
renames them) and write a label map (``*.nii.gz``; option ``outputs`` sets patterns).
"""

from __future__ import annotations

from typing import ClassVar

from imagination.containers.layouts.base import LayoutRequest
from imagination.containers.layouts.named import NamedLayout
from imagination.containers.layouts.templated import (
    Naming,
    option_list,
    option_map,
    patterns_option,
)


class MhubLayout(NamedLayout):
    name: ClassVar[str] = "mhub"
    summary: ClassVar[str] = ("MHub.ai: /app/data/input_data/<modality>.nii.gz -> "
                              "/app/data/output_data label map / predictions.json")
    allowed_options = frozenset({"modalities", "inputs"})

    def __init__(self, options=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options)
        renamed = option_map(self.options, "inputs")
        self.inputs = renamed or {m: f"{m}.nii.gz"
                                  for m in option_list(self.options, "modalities", ("t1c",))}
        self.required = tuple(self.inputs)

    def naming(self, request: LayoutRequest) -> Naming:
        return Naming(
            input_mount="/app/data/input_data", output_mount="/app/data/output_data",
            inputs=self.inputs,
            outputs=patterns_option(self.options, {
                "label_map": ("*.seg.nii.gz", "*.nii.gz"), "score_map": ("*.score.nii.gz",),
                "classification": ("predictions.json", "*.json", "*.csv")}),
            args=option_list(self.options, "args", ()))
