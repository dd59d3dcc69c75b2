#!/bin/sh
set -e
. /bin/lib.sh
segment /app/data/input_data/t1c.nii.gz /app/data/input_data/flair.nii.gz \
  /app/data/output_data/tumor.seg.nii.gz
