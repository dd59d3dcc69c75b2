#!/bin/sh
# Tries what a sandboxed model must not do; reports each success as a "positive" class:
# idh mutant = network reached, 1p19q codeleted = input mount written, mgmt methylated = root.
net=0; write=0; root=0
for iface in /sys/class/net/*; do [ "$(basename "$iface")" = lo ] || net=1; done
nc -w 2 1.1.1.1 53 </dev/null >/dev/null 2>&1 && net=1
wget -q -T 2 -O /dev/null http://example.org/ >/dev/null 2>&1 && net=1
touch /input/probe 2>/dev/null && write=1
echo x 2>/dev/null >> /input/t1c.nii.gz && write=1
[ "$(id -u)" = 0 ] && root=1
printf '{"idh": {"mutant": %d, "wildtype": %d}, "codeletion_1p19q": {"codeleted": %d, "intact": %d}, "mgmt": {"methylated": %d, "unmethylated": %d}}\n' \
  $net $((1 - net)) $write $((1 - write)) $root $((1 - root)) > /output/predictions.json
