"""``predict-gbm``: PREDICT-GBM growth-model images (BrainLesion/PredictGBM).

One patient per container call, always named ``00000``: ``/mlcube_io0/Patient-00000/
00000-{gm,wm,csf,tumorseg,pet}.nii.gz`` (tissue probability maps, the tumour segmentation in
BraTS 2024 codes, PET when the case has it) in, ``/mlcube_io1/00000.nii.gz`` (a tumour
cell-density map, scored as the recurrence score map) out.
"""

from __future__ import annotations

from typing import ClassVar

from imagination.containers.layouts.base import LayoutRequest
from imagination.containers.layouts.named import NamedLayout
from imagination.containers.layouts.templated import Naming, option_list, patterns_option

PATIENT = "Patient-00000/00000"


class PredictGbmLayout(NamedLayout):
    name: ClassVar[str] = "predict-gbm"
    summary: ClassVar[str] = ("PREDICT-GBM: /mlcube_io0/Patient-00000/00000-{gm,wm,csf,"
                              "tumorseg,pet}.nii.gz -> /mlcube_io1/00000.nii.gz density map")
    allowed_options = frozenset({"pet"})
    required = ("tissue_gm", "tissue_wm", "tissue_csf", "mask_tumor")

    def naming(self, request: LayoutRequest) -> Naming:
        inputs = {"tissue_gm": f"{PATIENT}-gm.nii.gz", "tissue_wm": f"{PATIENT}-wm.nii.gz",
                  "tissue_csf": f"{PATIENT}-csf.nii.gz",
                  "mask_tumor": f"{PATIENT}-tumorseg.nii.gz"}
        optional: frozenset[str] = frozenset()
        if self.options.get("pet", True):
            inputs["pet"] = f"{PATIENT}-pet.nii.gz"
            optional = frozenset({"pet"})
        return Naming(input_mount="/mlcube_io0", output_mount="/mlcube_io1", inputs=inputs,
                      optional=optional,
                      outputs=patterns_option(self.options, {"score_map": ("00000.nii.gz",)}),
                      args=option_list(self.options, "args", ()))
