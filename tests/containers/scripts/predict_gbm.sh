#!/bin/sh
# PREDICT-GBM contract: needs gm, wm, csf and tumorseg; writes the tumorseg as the density map.
set -e
p=/mlcube_io0/Patient-00000/00000
for part in gm wm csf tumorseg; do test -s "$p-$part.nii.gz" || { echo "no $part" >&2; exit 3; }; done
cp "$p-tumorseg.nii.gz" /mlcube_io1/00000.nii.gz
