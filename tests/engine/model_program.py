"""A deterministic command-adapter program for the engine tests.

``model_program.py MODE INPUT OUTPUT``. MODE ``ok`` always answers; ``flaky`` crashes on cases
whose id ends in 1, writes NaN for ids ending in 2 and hangs on ids ending in 3; ``slow`` sleeps
0.4 s first; ``fail`` fails on every case; ``sleep`` sleeps 30 s. Probabilities and the map
derive from the case id and FLAIR only.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np


def main(mode: str, input_dir: Path, output_dir: Path) -> int:
    case_id = json.loads((input_dir / "request.json").read_text())["case_id"]
    if mode == "slow":
        time.sleep(0.4)
    if mode == "sleep":
        time.sleep(30)
    if mode == "fail":
        sys.stderr.write("this model always fails\n")
        return 4
    if mode == "flaky" and case_id.endswith("1"):
        sys.stderr.write("model exploded\n")
        return 3
    if mode == "flaky" and case_id.endswith("3"):
        time.sleep(600)
    p = int(hashlib.sha256(case_id.encode()).hexdigest()[:6], 16) / 0xFFFFFF
    if mode == "flaky" and case_id.endswith("2"):
        p = float("nan")
    (output_dir / "predictions.json").write_text(json.dumps(
        {"idh": {"wildtype": 1.0 - p if p == p else 0.5, "mutant": p}}))
    image = nib.load(input_dir / "flair.nii.gz")
    flair = np.asarray(image.dataobj, dtype=np.float32)
    nib.save(nib.Nifti1Image(flair, image.affine), output_dir / "recurrence.nii.gz")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
