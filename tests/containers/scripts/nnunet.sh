#!/bin/sh
# nnUNetv2_predict-like: -i IN -o OUT; channels CASE_0000..0003 = t1, t1c, t2, flair. Writes the
# codes of nnU-Net's BraTS datasets (Dataset137_BraTS2021): 1 edema, 2 necrosis, 3 enhancing.
set -e
. /bin/lib.sh
while [ $# -gt 0 ]; do
  case "$1" in -i) in=$2; shift ;; -o) out=$2; shift ;; esac; shift
done
for first in "$in"/*_0000.nii.gz; do
  case_name=$(basename "$first" _0000.nii.gz)
  segment "$in/${case_name}_0001.nii.gz" "$in/${case_name}_0003.nii.gz" "$out/$case_name.nii.gz" 3 1
done
