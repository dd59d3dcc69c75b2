#!/bin/sh
# imagination layout: P(idh mutant) = mean(t2) / (mean(t2) + mean(flair)).
set -e
. /bin/lib.sh
values /input/t2.nii.gz > /tmp/a; values /input/flair.nii.gz > /tmp/b
paste /tmp/a /tmp/b | awk '{ s2 += $1; sf += $2 } END {
  p = s2 / (s2 + sf); printf "{\"idh\": {\"mutant\": %.9f, \"wildtype\": %.9f}}\n", p, 1 - p }' \
  > /output/predictions.json
