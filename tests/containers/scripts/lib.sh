#!/bin/sh
# Shared helpers of the test images (busybox only). NIfTI files written by the harness have a
# 352-byte header followed by little-endian float32 voxels.
values() { zcat "$1" | od -An -v -t f4 -j 352 | tr -s ' ' '\n' | grep -v '^$'; }
header() { zcat "$1" | head -c 352; }
# f32 CODE: little-endian float32 bytes (hex) of a label code 1-4
f32() { case "$1" in 1) echo 0000803f ;; 2) echo 00000040 ;; 3) echo 00004040 ;;
                     4) echo 00008040 ;; *) echo "bad code $1" >&2; exit 9 ;; esac; }
# segment T1C FLAIR OUT [ET SNFH]: code ET (default 3) where t1c > 0.75 max, code SNFH
# (default 2) where flair > 0.75 max elsewhere
segment() {
  et=$(f32 "${4:-3}"); snfh=$(f32 "${5:-2}")
  values "$1" > /tmp/a; values "$2" > /tmp/b; paste /tmp/a /tmp/b > /tmp/ab
  header "$1" > /tmp/seg.nii
  awk -v et="$et" -v snfh="$snfh" \
      'FNR==NR { if ($1 > ma) ma = $1; if ($2 > mb) mb = $2; next }
       { if ($1 > 0.75 * ma) printf "%s", et; else if ($2 > 0.75 * mb) printf "%s", snfh;
         else printf "00000000" }' /tmp/ab /tmp/ab | xxd -r -p >> /tmp/seg.nii
  gzip -c /tmp/seg.nii > "$3"
}
