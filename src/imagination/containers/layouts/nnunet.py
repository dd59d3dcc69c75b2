"""``nnunet``: nnU-Net v2 inference folders (``nnUNetv2_predict -i IN -o OUT``).

Channels are written ``CASE_0000.nii.gz``, ``CASE_0001.nii.gz``, ... in the order of option
``channels`` (the model's ``dataset.json`` ``channel_names``; default t1, t1c, t2, flair).
Output ``CASE.nii.gz`` (label map) and, with ``--save_probabilities`` (option
``save_probabilities: true``), ``CASE.npz`` with key ``probabilities`` in SimpleITK order.
"""

from __future__ import annotations

from typing import ClassVar

from imagination.containers.layouts.base import LayoutRequest
from imagination.containers.layouts.named import NamedLayout
from imagination.containers.layouts.templated import Naming, option_list, patterns_option

DEFAULT_CHANNELS = ("t1", "t1c", "t2", "flair")


class NnunetLayout(NamedLayout):
    name: ClassVar[str] = "nnunet"
    summary: ClassVar[str] = ("nnU-Net v2: /input CASE_0000.nii.gz ... (channel order) -> "
                              "/output CASE.nii.gz [+ CASE.npz probabilities]")
    allowed_options = frozenset({"channels", "save_probabilities"})

    def __init__(self, options=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options)
        self.channels = option_list(self.options, "channels", DEFAULT_CHANNELS)
        self.required = self.channels

    def naming(self, request: LayoutRequest) -> Naming:
        inputs = {m: f"{{case_id}}_{i:04d}.nii.gz" for i, m in enumerate(self.channels)}
        args = ["-i", "/input", "-o", "/output"]
        if self.options.get("save_probabilities"):
            args.append("--save_probabilities")
        return Naming(
            input_mount="/input", output_mount="/output", inputs=inputs,
            outputs=patterns_option(self.options, {"label_map": ("{case_id}.nii.gz",),
                                                   "probabilities": ("{case_id}.npz",)}),
            args=option_list(self.options, "args", args))
