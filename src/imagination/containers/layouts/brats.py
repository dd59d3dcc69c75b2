"""``brats``: the BraTS orchestrator's MLCube convention (BrainLesion/BraTS, the BraTS winners).

Mounts ``/mlcube_io0`` data (read-only), ``/mlcube_io1`` additional files (option
``additional_files``: a host folder of weights, read-only), ``/mlcube_io2`` output,
``/mlcube_io3`` parameters (option ``parameters_file``); arguments
``--data_path=/mlcube_io0 --output_path=/mlcube_io2``. One folder per case,
``BraTS-GLI-00000-000/BraTS-GLI-00000-000-{t1c,t1n,t2f,t2w}.nii.gz``; the suffix is ``-000``
pre-operative and ``-100`` post-treatment. The output is one label map per case, BraTS 2023+
codes (1 NETC, 2 SNFH, 3 ET, 4 RC post-treatment).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from imagination.containers.layouts.base import LayoutRequest
from imagination.containers.layouts.named import NamedLayout
from imagination.containers.layouts.templated import Naming, option_list, patterns_option
from imagination.errors import InputError

#: canonical modality -> BraTS suffix
SUFFIXES = {"t1c": "t1c", "t1": "t1n", "flair": "t2f", "t2": "t2w"}
CHALLENGES = ("GLI", "MEN", "MET", "PED", "SSA", "GoAT", "MEN-RT")


class BratsLayout(NamedLayout):
    name: ClassVar[str] = "brats"
    summary: ClassVar[str] = ("BraTS orchestrator: /mlcube_io0 BraTS-GLI-00000-000/"
                              "BraTS-GLI-00000-000-{t1c,t1n,t2f,t2w}.nii.gz -> /mlcube_io2 "
                              "label map")
    allowed_options = frozenset({"challenge", "additional_files", "parameters_file"})
    required = tuple(SUFFIXES)

    def __init__(self, options=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(options)
        self.challenge = str(self.options.get("challenge", "GLI"))
        if self.challenge not in CHALLENGES:
            raise InputError(f"layout brats: challenge {self.challenge!r} is not one of "
                             f"{', '.join(CHALLENGES)}")
        for key in ("additional_files", "parameters_file"):
            value = self.options.get(key)
            if value is not None and not Path(value).exists():
                raise InputError(f"layout brats: {key} {value} does not exist")

    def naming(self, request: LayoutRequest) -> Naming:
        subject = f"BraTS-{self.challenge}-00000-{{tp}}"
        inputs = {m: f"{subject}/{subject}-{s}.nii.gz" for m, s in SUFFIXES.items()}
        extra: dict[str, str] = {}
        args = ["--data_path=/mlcube_io0", "--output_path=/mlcube_io2"]
        if self.options.get("additional_files"):
            extra[str(Path(self.options["additional_files"]).resolve())] = "/mlcube_io1"
        if self.options.get("parameters_file"):
            parameters = Path(self.options["parameters_file"]).resolve()
            extra[str(parameters)] = f"/mlcube_io3/{parameters.name}"
            args.append(f"--parameters_file=/mlcube_io3/{parameters.name}")
        return Naming(
            input_mount="/mlcube_io0", output_mount="/mlcube_io2", inputs=inputs,
            outputs=patterns_option(self.options, {"label_map": (f"{subject}.nii.gz",
                                                                 "*.nii.gz")}),
            args=option_list(self.options, "args", args), extra_mounts=extra)
