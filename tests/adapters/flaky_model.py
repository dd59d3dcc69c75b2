"""A command-adapter test program that misbehaves according to the case id.

crash*: exit 3 · hang*: sleep · nan*: NaN probability · shape*: wrongly shaped map ·
nojson*: writes nothing · badjson*: truncated JSON · anything else: valid output.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np


def main(input_dir: Path, output_dir: Path) -> int:
    request = json.loads((input_dir / "request.json").read_text())
    case_id = request["case_id"]
    print(f"running {case_id}")
    if case_id.startswith("crash"):
        sys.stderr.write("Traceback: model exploded\n")
        return 3
    if case_id.startswith("hang"):
        time.sleep(120)
    if case_id.startswith("nojson"):
        return 0
    if case_id.startswith("badjson"):
        (output_dir / "predictions.json").write_text('{"idh": {"wildtype": 0.5')
        return 0
    p = float("nan") if case_id.startswith("nan") else 0.8
    (output_dir / "predictions.json").write_text(json.dumps(
        {"idh": {"wildtype": 1.0 - p if p == p else 0.5, "mutant": p}}))
    image = nib.load(input_dir / "flair.nii.gz")
    data = np.asarray(image.dataobj, dtype=np.float32)
    if case_id.startswith("shape"):
        data = data[:-1]
    nib.save(nib.Nifti1Image(data, image.affine), output_dir / "recurrence.nii.gz")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
