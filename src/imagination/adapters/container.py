"""``container`` adapter: a packaged model run unchanged, with its own I/O layout.

Config: ``{name: container, id: ID, params: {image_archive: PATH | image: NAME, digest: ...,
layout: NAME, tasks: [...], runtime: podman|docker|apptainer, timeout_s: ...}}`` or
``params: {model: ID}`` for an entry of the model registry (:mod:`imagination.models`).
Each case runs in a fresh container with no network, read-only inputs and root file system,
a non-root user, no new privileges, no capabilities, CPU/memory/process limits and a timeout
that stops and removes it (:mod:`imagination.containers.runtime`). An ``image_archive`` is
loaded once, in the main process, and its image id verified against ``digest``
(:meth:`ContainerAdapter.prepare`); a named image must already be present and match its pin.
The layout (:mod:`imagination.containers.layouts`) names the inputs and reads the outputs back
on the case grid; a missing input, a crash, a timeout or outputs missing or off the grid fail
that case only, with the reason.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imagination.adapters.command import check_tasks, model_card
from imagination.adapters.protocol import ModelCard, Predictions, Segmentation
from imagination.adapters.validation import (
    AdapterCrashError,
    AdapterOutputError,
    AdapterTimeoutError,
    log_tail,
)
from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.cohort.vocabulary import MODALITIES
from imagination.containers.images import (
    normalise_digest,
    read_archive,
    resolve_named,
)
from imagination.containers.layouts import make_layout
from imagination.containers.layouts.base import LayoutRequest, timepoint_of
from imagination.containers.layouts.templated import output_kind
from imagination.containers.runtime import (
    DEFAULT_USER,
    Limits,
    RunRequest,
    find_runtime,
    run_container,
)
from imagination.errors import InputError
from imagination.tasks.outputs import LABEL_MAP, SCORE_MAP
from imagination.tasks.registry import kind_of

#: Default label convention per layout (masks given to the package, label maps read back).
LAYOUT_LABEL_MAPS: dict[str, str] = {"brats": "brats2023", "predict-gbm": "brats2024_post",
                                     "nnunet": "brats2023", "mhub": "brats2023",
                                     "grand-challenge": "brats2023", "imagination": "brats2023",
                                     "custom": "brats2023"}
TIMEPOINTS = ("auto", "pre-op", "post-op")


def container_adapter(**params: Any) -> ContainerAdapter:
    """The configured kind ``container``: ``model``/``registry`` expand to a registry entry."""
    from imagination.models.registry import container_params

    merged = container_params(dict(params))
    try:
        inspect.signature(ContainerAdapter).bind(**merged)
    except TypeError as exc:
        raise InputError(f"adapter container: bad parameters {sorted(merged)}: {exc}") from None
    return ContainerAdapter(**merged)


class ContainerAdapter:
    """A container image run once per case under a named layout."""

    #: no network, only the case's layout inputs mounted (read-only): stated in the report
    blinding = "enforced (container)"

    def __init__(self, *, tasks: Sequence[str], layout: str,
                 image: str | None = None, image_archive: str | None = None,
                 digest: str | None = None, runtime: str | None = None,
                 timeout_s: float = 3600.0, cpus: float = 1.0, memory_mb: int = 4096,
                 gpus: bool = False, user: str = DEFAULT_USER,
                 layout_options: Mapping[str, Any] | None = None,
                 modalities: Sequence[str] | None = None,
                 optional_modalities: Sequence[str] = (),
                 label_map: str | Mapping[int | str, str] | None = None,
                 timepoint: str = "auto", version: str = "unversioned",
                 name: str = "container",
                 card: Mapping[str, Any] | ModelCard | None = None) -> None:
        if (image is None) == (image_archive is None):
            raise InputError(f"adapter {name}: give exactly one of image or image_archive")
        if not timeout_s > 0:
            raise InputError(f"adapter {name}: timeout_s must be positive, got {timeout_s}")
        if not cpus > 0 or not memory_mb >= 16:
            raise InputError(f"adapter {name}: cpus must be > 0 and memory_mb >= 16")
        if user.split(":")[0] in ("0", "root"):
            raise InputError(f"adapter {name}: containers never run as root (user {user!r})")
        if timepoint not in TIMEPOINTS:
            raise InputError(f"adapter {name}: timepoint {timepoint!r} is not one of "
                             f"{', '.join(TIMEPOINTS)}")
        self.name = name
        self.version = str(version)
        self.tasks = check_tasks(name, tasks)
        self.layout_name = layout
        self.layout = make_layout(layout, layout_options)
        for task in self.tasks:  # an output type no layout reads is a config error
            output_kind(task)
        self.runtime = find_runtime(runtime)
        self.digest = normalise_digest(digest) if digest is not None else None
        self.image = image
        self.archive = Path(image_archive) if image_archive is not None else None
        if self.archive is not None and not self.archive.is_absolute():
            raise InputError(f"adapter {name}: image_archive {image_archive} must be absolute "
                             "(paths in a bench config are relative to the config file)")
        self.timeout_s = float(timeout_s)
        self.limits = Limits(cpus=float(cpus), memory_mb=int(memory_mb), gpus=bool(gpus),
                             user=user)
        spec = label_map if label_map is not None else LAYOUT_LABEL_MAPS[layout]
        self.label_map = LabelMap.from_spec(spec)
        self.timepoint = timepoint
        needed = tuple(modalities) if modalities is not None else self.layout.required
        self.required_modalities = tuple(m for m in needed if m in MODALITIES)
        self.optional_modalities = tuple(optional_modalities)
        self.masks = tuple(k.removeprefix("mask_") for k in needed if k.startswith("mask_"))
        self.tissues = tuple(k.removeprefix("tissue_") for k in needed
                             if k.startswith("tissue_"))
        self.image_id = self._identify()
        self._reference: str | None = None
        self.card = model_card(card, f"container image {image or self.archive}")

    def _identify(self) -> str:
        """The image id, without loading anything (checked against ``digest``)."""
        if self.archive is not None:
            info = read_archive(self.archive)
            if self.digest is not None and self.digest != info.image_id:
                raise InputError(f"adapter {self.name}: digest mismatch: the config pins "
                                 f"{self.digest}, image archive {self.archive} holds "
                                 f"{info.image_id}; refusing to run it")
            return info.image_id
        assert self.image is not None
        return normalise_digest(resolve_named(self.runtime, self.image, self.digest)) \
            if self.runtime != "apptainer" else (self.digest or f"name:{self.image}")

    def prepare(self) -> None:
        """Load the archive once (if the runtime lacks it) and verify the loaded image id."""
        self.reference()

    def reference(self) -> str:
        """What to pass to ``<runtime> run``."""
        if self._reference is None:
            if self.archive is not None:
                from imagination.containers.images import load_archive

                self._reference = load_archive(self.runtime, read_archive(self.archive))
            else:
                assert self.image is not None
                self._reference = (self.image if self.runtime == "apptainer"
                                   else self.image_id.removeprefix("sha256:"))
        return self._reference

    def params(self) -> Mapping[str, Any]:
        return {"image_id": self.image_id, "layout": self.layout_name,
                "layout_options": {k: (str(v) if isinstance(v, Path) else v)
                                   for k, v in sorted(self.layout.options.items())},
                "tasks": list(self.tasks), "version": self.version,
                "label_map": {str(k): v for k, v in sorted(self.label_map.codes.items())},
                "timepoint": self.timepoint, "required_modalities": list(self.required_modalities),
                "masks": list(self.masks), "tissues": list(self.tissues)}

    def request(self, case: LoadedCase) -> LayoutRequest:
        modalities = tuple(m for m in (*self.required_modalities, *self.optional_modalities)
                           if m in case.images)
        return LayoutRequest(case=case, tasks=self.tasks, modalities=modalities,
                             masks=self.masks, tissues=self.tissues,
                             timepoint=timepoint_of(case, self.timepoint),
                             label_map=self.label_map, options=self.layout.options)

    def predict(self, case: LoadedCase) -> Predictions:
        request = self.request(case)
        work = Path(tempfile.mkdtemp(prefix=f"imagination-{self.name}-"))
        try:
            staged = self.layout.stage(request, work)
            result = run_container(self.runtime, RunRequest(
                image=self.reference(), mounts=tuple(staged.mounts), args=tuple(staged.args),
                env=staged.env, limits=self.limits, timeout_s=self.timeout_s), work)
            logs = result.logs
            if result.status is None:
                raise AdapterTimeoutError(f"no result within {self.timeout_s:g} s; the "
                                          "container was stopped and removed", logs=logs)
            if result.status != 0:
                raise AdapterCrashError(f"container exit status {result.status}; stderr: "
                                        f"{log_tail(logs['stderr']) or '(empty)'}", logs=logs)
            try:
                outputs = self.layout.read(request, staged)
            except AdapterOutputError as exc:
                raise AdapterOutputError(exc.reason, logs=logs) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
        typed: dict[str, Any] = {t: p for t, p in outputs.classification.items()
                                 if t in self.tasks}
        typed.update({t: outputs.score_map for t in self.tasks
                      if outputs.score_map is not None and kind_of(t).output is SCORE_MAP})
        typed.update({t: Segmentation(outputs.label_map, self.label_map) for t in self.tasks
                      if outputs.label_map is not None and kind_of(t).output is LABEL_MAP})
        predictions = Predictions(case_id=case.case_id, outputs=typed, logs=logs)
        predictions.label_map = outputs.label_map  # type: ignore[attr-defined]
        predictions.probabilities = outputs.probabilities  # type: ignore[attr-defined]
        return predictions
