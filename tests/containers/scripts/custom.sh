#!/bin/sh
set -e
for folder in /data/in/*; do
  name=$(basename "$folder")
  mkdir -p /data/out/pred
  cp "$folder/seg.nii.gz" "/data/out/pred/$name.nii.gz"
done
