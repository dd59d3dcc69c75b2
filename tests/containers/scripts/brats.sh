#!/bin/sh
# BraTS MLCube convention: --data_path=DIR --output_path=DIR; one folder per subject.
set -e
. /bin/lib.sh
for arg in "$@"; do
  case "$arg" in --data_path=*) data=${arg#*=} ;; --output_path=*) out=${arg#*=} ;; esac
done
for folder in "$data"/BraTS-*; do
  subject=$(basename "$folder")
  segment "$folder/$subject-t1c.nii.gz" "$folder/$subject-t2f.nii.gz" "$out/$subject.nii.gz"
done
