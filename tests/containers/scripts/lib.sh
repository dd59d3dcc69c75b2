#!/bin/sh
# Shared helpers of the test images (busybox only). NIfTI files written by the harness have a
# 352-byte header followed by little-endian float32 voxels.
values() { zcat "$1" | od -An -v -t f4 -j 352 | tr -s ' ' '\n' | grep -v '^$'; }
header() { zcat "$1" | head -c 352; }
# segment T1C FLAIR OUT: ET (3) where t1c > 0.75 max, SNFH (2) where flair > 0.75 max elsewhere
segment() {
  values "$1" > /tmp/a; values "$2" > /tmp/b; paste /tmp/a /tmp/b > /tmp/ab
  header "$1" > /tmp/seg.nii
  awk 'FNR==NR { if ($1 > ma) ma = $1; if ($2 > mb) mb = $2; next }
       { if ($1 > 0.75 * ma) printf "00004040"; else if ($2 > 0.75 * mb) printf "00000040";
         else printf "00000000" }' /tmp/ab /tmp/ab | xxd -r -p >> /tmp/seg.nii
  gzip -c /tmp/seg.nii > "$3"
}
