"""Render T1c and FLAIR slices through the tumour of synthetic cases (PNG, matplotlib).

Usage: python scripts/render_synth_slices.py COHORT_DIR OUT.png [--cases N] [--extra]
One row per case: axial T1c, axial FLAIR, coronal T1c, coronal FLAIR (with --extra also T2,
ADC, PET on the MRI grid and the segmentation outline).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to

from imagination.cohort.manifest import read_manifest


def _load(path: Path) -> np.ndarray:
    return np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj, dtype=np.float32)


def _window(image: np.ndarray) -> tuple[float, float]:
    inside = image[image > 0]
    if inside.size == 0:
        return 0.0, 1.0
    return float(np.percentile(inside, 1)), float(np.percentile(inside, 99.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("cohort", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--extra", action="store_true")
    args = parser.parse_args()
    cases = read_manifest(args.cohort / "manifest.csv").cases()[: args.cases]
    columns = ["t1c", "flair", "t1c", "flair"] + (["t2", "adc", "pet", "seg"] if args.extra else [])
    fig, axes = plt.subplots(len(cases), len(columns), figsize=(2.2 * len(columns),
                                                                2.4 * len(cases)))
    axes = np.atleast_2d(axes)
    for row, case in enumerate(cases):
        seg = _load(case.masks["tumor"])
        # a complete response (longitudinal cohorts) has no tumour left: the volume's centre
        inside = np.argwhere(seg > 0)
        centre = (np.round(inside.mean(axis=0)).astype(int) if inside.size
                  else np.array(seg.shape) // 2)
        reference = nib.as_closest_canonical(nib.load(case.images["t1c"]))
        volumes = {m: _load(case.images[m]) for m in ("t1c", "flair", "t2", "adc")}
        pet_img = nib.as_closest_canonical(nib.load(case.images["pet"]))
        volumes["pet"] = np.asarray(resample_from_to(pet_img, reference, order=1).dataobj)
        volumes["seg"] = seg
        for col, modality in enumerate(columns):
            axis = 2 if col in (0, 1) or col >= 4 else 1
            image = np.take(volumes[modality], centre[axis], axis=axis)
            ax = axes[row, col]
            low, high = (0, 3) if modality == "seg" else _window(volumes[modality])
            ax.imshow(np.rot90(image), cmap="magma" if modality == "pet" else "gray",
                      vmin=low, vmax=high)
            if modality == "seg":
                ax.imshow(np.rot90(np.ma.masked_equal(image, 0)), cmap="jet", vmin=0, vmax=3)
            ax.set_xticks([])
            ax.set_yticks([])
            view = "ax" if axis == 2 else "cor"
            title = f"{modality} {view}"
            if col == 0:
                # follow-up exams carry a response label instead of a tumour type
                label = case.labels.get("tumor_type") or case.labels.get("response") or ""
                title = f"{case.case_id} {label[:5]}\n{title}"
            ax.set_title(title, fontsize=7)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
