#!/usr/bin/env python3
"""A demonstration model for the ``command`` adapter: shows the file contract, not a real model.

Usage: demo_model.py INPUT_DIR OUTPUT_DIR

Reads ``INPUT_DIR/request.json`` and the images ``INPUT_DIR/<modality>.nii.gz``. Writes
``OUTPUT_DIR/predictions.json`` with, for every classification task asked, equal probabilities
over the task's classes, and, when ``recurrence`` is asked, ``OUTPUT_DIR/recurrence.nii.gz``:
the FLAIR (else first image) smoothed with a 5 mm Gaussian, on the input grid.
Needs numpy, scipy and nibabel.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.ndimage import gaussian_filter


def main(input_dir: Path, output_dir: Path) -> int:
    request = json.loads((input_dir / "request.json").read_text())
    print(f"demo model: case {request['case_id']}, tasks {request['tasks']}")
    predictions = {
        task: {label: 1.0 / len(classes) for label in classes}
        for task, classes in request["classes"].items()
    }
    (output_dir / "predictions.json").write_text(json.dumps(predictions, indent=2))
    if "recurrence" in request["tasks"]:
        modality = "flair" if "flair" in request["modalities"] else request["modalities"][0]
        image = nib.load(input_dir / f"{modality}.nii.gz")
        spacing = image.header.get_zooms()[:3]
        data = np.asarray(image.dataobj, dtype=np.float32)
        score = gaussian_filter(data, sigma=[5.0 / s for s in spacing])
        nib.save(nib.Nifti1Image(score.astype(np.float32), image.affine),
                 output_dir / "recurrence.nii.gz")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__ or "")
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
