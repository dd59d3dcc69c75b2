#!/bin/sh
# Grand Challenge: the t1c MetaImage returned as the recurrence score map.
set -e
mkdir -p /output/images/recurrence-score-map
cp /input/images/t1c-brain-mri/*.mha /output/images/recurrence-score-map/score.mha
