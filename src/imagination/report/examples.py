"""Example slices of the recurrence task: ``RUN_DIR/examples/<task>_<adapter>_<case_id>.npz``
files (2-D arrays ``t1c``, ``recurrence``, ``standard_plan``, ``model_plan``; optional
``spacing``) drawn as figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from imagination.errors import InputError
from imagination.report import plots

MAX_EXAMPLES = 4
EXAMPLE_ARRAYS = ("t1c", "recurrence", "standard_plan", "model_plan")


def example_files(run_dir: Path, task: str, adapters: Sequence[str]) -> list[tuple[str, str, Path]]:
    """``examples/<task>_<adapter>_<case_id>.npz`` files as (adapter, case_id, path)."""
    folder = run_dir / "examples"
    if not folder.is_dir():
        return []
    found = []
    by_length = sorted(adapters, key=len, reverse=True)
    for path in sorted(folder.glob(f"{task}_*.npz")):
        rest = path.stem[len(task) + 1:]
        adapter = next((a for a in by_length if rest.startswith(f"{a}_")), None)
        if adapter is not None:
            found.append((adapter, rest[len(adapter) + 1:], path))
    return found[:MAX_EXAMPLES]


def example_figure(adapter: str, case_id: str, path: Path) -> str:
    """The SVG of one example file; an input error naming the file when it is unusable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in EXAMPLE_ARRAYS if k not in data]
            if missing:
                raise InputError(f"{path}: missing array(s) {', '.join(missing)}")
            arrays = {k: np.asarray(data[k]) for k in EXAMPLE_ARRAYS}
            spacing = (tuple(float(x) for x in np.asarray(data["spacing"]).ravel()[:2])
                       if "spacing" in data else (1.0, 1.0))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .npz file: {exc}") from None
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or arrays["t1c"].ndim != 2:
        raise InputError(f"{path}: arrays must be 2-D slices of one shape, got "
                         f"{ {k: a.shape for k, a in arrays.items()} }")
    return plots.example_slice_plot(arrays["t1c"], arrays["recurrence"],
                                    arrays["standard_plan"], arrays["model_plan"],
                                    title=f"{adapter}, case {case_id} (axial)",
                                    spacing=spacing)
