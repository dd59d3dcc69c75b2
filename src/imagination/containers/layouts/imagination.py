"""``imagination``: the harness's own convention (as the ``command`` adapter).

``/input/<modality>.nii.gz``, ``/input/mask_<name>.nii.gz``, ``/input/tissue_<name>.nii.gz``
and ``/input/request.json``; the package writes ``/output/predictions.json``
(``{task: {class: probability}}``), ``/output/recurrence.nii.gz`` and
``/output/segmentation.nii.gz``. Option ``inputs`` lists what to write (default: the adapter's
modalities).
"""

from __future__ import annotations

from typing import ClassVar

from imagination.containers.layouts.base import LayoutRequest
from imagination.containers.layouts.named import NamedLayout
from imagination.containers.layouts.templated import Naming, option_list, patterns_option


class ImaginationLayout(NamedLayout):
    name: ClassVar[str] = "imagination"
    summary: ClassVar[str] = ("imagination: /input/<modality>.nii.gz + request.json -> "
                              "/output/predictions.json, recurrence.nii.gz, segmentation.nii.gz")
    allowed_options = frozenset({"inputs"})

    def __init__(self, options=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options)
        self.required = option_list(self.options, "inputs", ())

    def naming(self, request: LayoutRequest) -> Naming:
        keys = self.required or (*request.modalities, *(f"mask_{m}" for m in request.masks),
                                 *(f"tissue_{t}" for t in request.tissues))
        optional = frozenset() if self.required else frozenset(keys)
        return Naming(
            input_mount="/input", output_mount="/output",
            inputs={k: f"{k}.nii.gz" for k in keys}, optional=optional,
            outputs=patterns_option(self.options, {
                "label_map": ("segmentation.nii.gz",), "score_map": ("recurrence.nii.gz",),
                "classification": ("predictions.json",)}),
            args=option_list(self.options, "args", ()), request_json=True,
            env={"IMAGINATION_INPUT": "/input", "IMAGINATION_OUTPUT": "/output"})
