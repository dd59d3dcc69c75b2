#!/bin/sh
# The density map with its x origin moved to 1000 mm (sform srow_x[3], header byte 292).
set -e
zcat /mlcube_io0/Patient-00000/00000-tumorseg.nii.gz > /tmp/d.nii
printf '\000\000\172\104' | dd of=/tmp/d.nii bs=1 seek=292 conv=notrunc 2>/dev/null
gzip -c /tmp/d.nii > /mlcube_io1/00000.nii.gz
