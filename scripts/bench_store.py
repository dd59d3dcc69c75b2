"""Store size: format-2 records (byte-shuffle + zstd, or a palette) against format 1 (the
``.npz`` with deflate level 1 that stores wrote before), on the records of a run folder.

Not a test. ``.venv/bin/python scripts/bench_store.py RUN_DIR`` re-encodes every stored record
both ways (the format-1 encoder is reproduced here, byte for byte what it wrote), checks that
format 2 decodes to the identical map, and prints bytes per adapter and the ratio, plus the
encode and decode time per map.
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
from imagination.engine.store_format import unpack


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    store = PredictionStore(args.run_dir / "store")
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    encode_s = decode_s = 0.0
    n_maps = 0
    for key in list(store):
        record = store.get(key)
        if record is None:
            continue
        start = time.perf_counter()
        new = encode_record(record)
        encode_s += time.perf_counter() - start
        meta, _ = unpack(new, arrays=False)
        recurrence = record.outputs.get("recurrence")
        old = format1(meta, recurrence)
        start = time.perf_counter()
        _, arrays = unpack(new)
        decode_s += time.perf_counter() - start
        if recurrence is not None:
            assert arrays["recurrence"].tobytes() == recurrence.tobytes(), key
            n_maps += 1
        row = sizes[record.adapter]
        row[0] += len(old)
        row[1] += len(new)
        row[2] += 1
    print(f"{'adapter':<22}{'records':>8}{'format 1 MB':>13}{'format 2 MB':>13}{'ratio':>8}")
    total_old = total_new = 0
    for adapter, (old, new, count) in sorted(sizes.items()):
        total_old, total_new = total_old + old, total_new + new
        print(f"{adapter:<22}{count:>8}{old / 1e6:>13.2f}{new / 1e6:>13.2f}{new / old:>8.3f}")
    print(f"{'all':<22}{sum(r[2] for r in sizes.values()):>8}{total_old / 1e6:>13.2f}"
          f"{total_new / 1e6:>13.2f}{total_new / max(total_old, 1):>8.3f}")
    if n_maps:
        print(f"per map: encode {1e3 * encode_s / n_maps:.0f} ms, decode "
              f"{1e3 * decode_s / n_maps:.0f} ms ({n_maps} maps, identical after decoding)")


if __name__ == "__main__":
    main()
