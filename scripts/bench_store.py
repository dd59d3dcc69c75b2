"""Store size: the run folder's store as written (format 3: records, plus maps as
content-addressed blobs, variants as differences from their clean map) against format 1 (the
``.npz`` with deflate level 1 that stores wrote before), and against format 2 (every map
encoded whole inside its record), on the records of a run folder.

Not a test. ``.venv/bin/python scripts/bench_store.py RUN_DIR`` reads every stored record
through the store (so every blob and difference is decoded and checked), encodes it in format
1 (reproduced here, byte for byte what it wrote) and whole in format 2, checks that the
whole encoding decodes to the identical map, and prints bytes per adapter and the ratios, plus
the whole encoding's encode and decode time per map. A blob is counted with the first record,
in key order, that names it.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from imagination.engine.store import PredictionStore, encode_record
from imagination.engine.store_format import blob_digests, unpack


def format1(record_meta: dict, recurrence: np.ndarray | None) -> bytes:
    """The bytes format 1 wrote: a zip (deflate 1) of meta.npy and recurrence.npy."""
    members = {"meta": np.frombuffer(json.dumps(record_meta, sort_keys=True).encode(), np.uint8)}
    if recurrence is not None:
        members["recurrence"] = np.ascontiguousarray(recurrence, dtype=np.float32)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in members.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
    return buffer.getvalue()


def _whole(record) -> bytes:
    """Format 2: the record with every map encoded whole inside it."""
    from imagination.engine import blobs

    saved, blobs.INLINE_MAX_BYTES = blobs.INLINE_MAX_BYTES, 1 << 62
    try:
        return encode_record(record).record
    finally:
        blobs.INLINE_MAX_BYTES = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    store = PredictionStore(args.run_dir / "store")
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    counted: set[str] = set()
    encode_s = decode_s = 0.0
    n_maps = 0
    for key in list(store):
        record = store.get(key)
        if record is None:
            continue
        row = sizes[record.adapter]
        path = store.object_path(key)
        row[2] += path.stat().st_size
        for digest in blob_digests(path):
            if digest in counted:
                continue
            counted.add(digest)
            row[2] += store.blobs.path(digest).stat().st_size
        start = time.perf_counter()
        whole = _whole(record)
        encode_s += time.perf_counter() - start
        meta, _ = unpack(whole, arrays=False)
        recurrence = record.outputs.get("recurrence")
        start = time.perf_counter()
        _, arrays = unpack(whole)
        decode_s += time.perf_counter() - start
        if recurrence is not None:
            assert arrays["recurrence"].tobytes() == recurrence.tobytes(), key
            n_maps += 1
        row[0] += len(format1(meta, recurrence))
        row[1] += len(whole)
        row[3] += 1
    print(f"{'adapter':<22}{'records':>8}{'format 1 MB':>13}{'format 2 MB':>13}"
          f"{'stored MB':>11}{'ratio':>8}")
    totals = [0, 0, 0]
    for adapter, (old, whole, stored, count) in sorted(sizes.items()):
        totals = [totals[0] + old, totals[1] + whole, totals[2] + stored]
        print(f"{adapter:<22}{count:>8}{old / 1e6:>13.2f}{whole / 1e6:>13.2f}"
              f"{stored / 1e6:>11.2f}{stored / max(old, 1):>8.3f}")
    old, whole, stored = totals
    print(f"{'all':<22}{sum(r[3] for r in sizes.values()):>8}{old / 1e6:>13.2f}"
          f"{whole / 1e6:>13.2f}{stored / 1e6:>11.2f}{stored / max(old, 1):>8.3f}")
    print(f"stored: {stored / max(old, 1):.3f}x of format 1, {stored / max(whole, 1):.3f}x of "
          f"format 2 (maps whole); {len(counted)} blobs")
    if n_maps:
        print(f"whole encoding per map: encode {1e3 * encode_s / n_maps:.0f} ms, decode "
              f"{1e3 * decode_s / n_maps:.0f} ms ({n_maps} maps, identical after decoding)")


if __name__ == "__main__":
    main()
