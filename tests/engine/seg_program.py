"""A segmentation program for the engine tests: ``seg_program.py MODE INPUT OUTPUT`` writes
``output/segmentation.nii.gz`` (BraTS 2023 codes: FLAIR-bright voxels as SNFH). It refuses to
run when it is given the tumour mask (blinding). MODE ``mixed`` writes a wrong shape for case
ids ending in 1, NaN for 2 and an undeclared code for 3."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np


def main(mode: str, input_dir: Path, output_dir: Path) -> int:
    request = json.loads((input_dir / "request.json").read_text())
    if (input_dir / "mask_tumor.nii.gz").exists() or "tumor" in request["masks"]:
        sys.stderr.write("was given the tumour mask\n")
        return 4
    case_id = request["case_id"]
    image = nib.load(input_dir / "flair.nii.gz")
    flair = np.asarray(image.dataobj, dtype=np.float32)
    brain = flair > 0
    threshold = np.median(flair[brain]) + 3 * flair[brain].std()
    labels = np.where(flair > threshold, 2, 0).astype(np.float32)
    if mode == "mixed" and case_id.endswith("1"):
        labels = labels[:-1]
    elif mode == "mixed" and case_id.endswith("2"):
        labels[0, 0, 0] = np.nan
    elif mode == "mixed" and case_id.endswith("3"):
        labels[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(labels, image.affine), output_dir / "segmentation.nii.gz")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
