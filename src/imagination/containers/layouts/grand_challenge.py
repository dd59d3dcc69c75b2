"""``grand-challenge``: Grand Challenge algorithm containers (``/input`` -> ``/output``).

Inputs are MetaImage files under interface slugs, ``/input/images/<slug>/<case_id>.mha``
(default slug ``<modality>-brain-mri``, masks ``<mask>-segmentation``; option ``slugs``
renames them); outputs ``/output/images/tumor-segmentation/*.mha`` (label map),
``/output/images/recurrence-score-map/*.mha`` and ``/output/predictions.json``.
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


def default_slug(key: str) -> str:
    if key.startswith("mask_"):
        return f"{key.removeprefix('mask_')}-segmentation"
    if key.startswith("tissue_"):
        return f"{key.removeprefix('tissue_')}-probability-map"
    return f"{key}-brain-mri"


class GrandChallengeLayout(NamedLayout):
    name: ClassVar[str] = "grand-challenge"
    summary: ClassVar[str] = ("Grand Challenge: /input/images/<slug>/<case>.mha -> "
                              "/output/images/<slug>/*.mha, /output/predictions.json")
    allowed_options = frozenset({"modalities", "slugs"})

    def __init__(self, options=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options)
        slugs = option_map(self.options, "slugs")
        keys = option_list(self.options, "modalities", tuple(slugs) or ("t1c",))
        self.slugs = {k: slugs.get(k, default_slug(k)) for k in keys}
        self.required = tuple(self.slugs)

    def naming(self, request: LayoutRequest) -> Naming:
        return Naming(
            input_mount="/input", output_mount="/output",
            inputs={k: f"images/{slug}/{{case_id}}.mha" for k, slug in self.slugs.items()},
            outputs=patterns_option(self.options, {
                "label_map": ("images/tumor-segmentation/*.mha",),
                "score_map": ("images/recurrence-score-map/*.mha",),
                "classification": ("predictions.json",)}),
            args=option_list(self.options, "args", ()))
