"""``custom``: file-name templates for a package with its own convention.

Options: ``inputs`` (input key -> path under the input mount, e.g.
``{t1c: "{case_id}/t1ce.nii.gz", mask_tumor: "{case_id}/seg.nii.gz"}``; ``{case_id}`` and
``{tp}`` are replaced), ``outputs`` (``label_map``/``score_map``/``probabilities``/
``classification`` -> pattern under the output mount), ``input_mount`` (default ``/input``),
``output_mount`` (default ``/output``), ``args``.
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
from imagination.errors import InputError


class CustomLayout(NamedLayout):
    name: ClassVar[str] = "custom"
    summary: ClassVar[str] = "file-name templates for inputs and outputs (options inputs/outputs)"
    allowed_options = frozenset({"inputs", "input_mount", "output_mount"})

    def __init__(self, options=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options)
        self.inputs = option_map(self.options, "inputs")
        if not self.inputs:
            raise InputError("layout custom: option inputs must name at least one input file")
        if not self.options.get("outputs"):
            raise InputError("layout custom: option outputs must name at least one output")
        self.required = tuple(self.inputs)
        for key in ("input_mount", "output_mount"):
            value = self.options.get(key, "/")
            if not isinstance(value, str) or not value.startswith("/") or value == "/":
                raise InputError(f"layout custom: {key} must be an absolute folder other "
                                 f"than /, got {value!r}")
        inside, outside = (str(self.options.get(k, d)).rstrip("/") + "/" for k, d in
                           (("input_mount", "/input"), ("output_mount", "/output")))
        if inside.startswith(outside) or outside.startswith(inside):
            raise InputError(f"layout custom: input_mount {inside} and output_mount {outside} "
                             "must not contain one another (the input mount is read-only)")

    def naming(self, request: LayoutRequest) -> Naming:
        return Naming(input_mount=str(self.options.get("input_mount", "/input")),
                      output_mount=str(self.options.get("output_mount", "/output")),
                      inputs=self.inputs, outputs=patterns_option(self.options, {}),
                      args=option_list(self.options, "args", ()))
