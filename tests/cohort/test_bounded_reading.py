"""Bounded memory on every NIfTI input: gzip trailers, lying headers, FIFOs, model outputs.

Memory is measured with tracemalloc (Python-level allocations, where nibabel and zlib put the
bytes); the bounds are far below what the hostile files would cost unguarded.
"""

from __future__ import annotations

import gzip
import os
import threading
import tracemalloc
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from imagination.adapters.maps import read_score_map
from imagination.adapters.precomputed import PrecomputedAdapter
from imagination.adapters.validation import AdapterFailure, AdapterOutputError, safe_predict
from imagination.cohort.bounded import GZIP_MAX_RATIO, bounded_gunzip
from imagination.cohort.loading import read_volume
from imagination.cohort.nifti import nifti_bytes
from imagination.cohort.validation import validate_manifests
from imagination.errors import CaseError
from tests.adapters.builders import build_case

from .builders import case_row, image_array, make_affine, write_cohort
from .test_validation import only

MB = 2**20
#: zero bytes appended to a valid image's gzip stream (~250 KB once compressed)
TRAILER_BYTES = 256 * MB


def gzip_with_trailer(raw: bytes, n_zeros: int) -> bytes:
    """One gzip member holding ``raw`` followed by ``n_zeros`` zero bytes."""
    squeeze = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [squeeze.compress(raw)]
    block = bytes(8 * MB)
    for _ in range(n_zeros // len(block)):
        parts.append(squeeze.compress(block))
    parts.append(squeeze.flush())
    return b"".join(parts)


def peak_mb(call) -> tuple[object, float]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()


def lying_header(shape: tuple[int, int, int], dtype=np.float32) -> bytes:
    """A NIfTI-1 header declaring ``shape`` followed by a few voxels only."""
    image = nib.Nifti1Image(np.zeros((2, 2, 2), dtype), make_affine())
    image.header.set_data_shape(shape)
    return image.header.binaryblock + b"\0" * 4 + bytes(64)


def test_a_zero_trailer_after_the_image_is_never_inflated(tmp_path):
    array = image_array((12, 10, 8))
    raw = nifti_bytes(array, make_affine(), compress=False)
    path = tmp_path / "t1c.nii.gz"
    path.write_bytes(gzip_with_trailer(raw, TRAILER_BYTES))
    assert path.stat().st_size < 2 * MB
    volume, peak = peak_mb(lambda: read_volume(path))
    np.testing.assert_array_equal(volume.array, array)
    assert peak < 16, f"{peak:.0f} MB allocated for a 4 KB image"


@pytest.mark.parametrize("name", ["t1c.nii.gz", "t1c.nii"])
def test_a_header_claiming_gigabytes_is_refused_before_allocating(tmp_path, name):
    block = lying_header((1024, 1024, 768))  # 3 GiB of float32
    path = tmp_path / name
    path.write_bytes(gzip.compress(block) if name.endswith(".gz") else block)
    with pytest.raises(CaseError) as info:
        read_volume(path, case_id="c1", column="t1c")
    assert info.value.code == ("implausible_header" if name.endswith(".gz")
                               else "truncated_file")
    assert "3,221,225,824" in info.value.reason  # 352 + 1024 * 1024 * 768 * 4 bytes
    assert info.value.case_id == "c1" and info.value.file == str(path)
    tracemalloc.start()
    with pytest.raises(CaseError):
        read_volume(path)
    peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    assert peak < 8


def test_the_ratio_bound_matches_deflate():
    """zlib's best case (all zeros) stays under the bound the reader assumes."""
    zeros = bytes(64 * MB)
    assert len(zeros) / len(zlib.compress(zeros, 9)) < GZIP_MAX_RATIO


def test_bounded_gunzip_reads_several_members_and_stops_at_the_size():
    raw = os.urandom(5000)
    payload = gzip.compress(raw[:1234]) + gzip.compress(raw[1234:]) + gzip.compress(b"junk")
    assert bounded_gunzip(payload, 5000) == raw
    assert bounded_gunzip(payload, 100) == raw[:100]
    assert bounded_gunzip(gzip.compress(raw)[:-200], 5000) is None  # truncated
    assert bounded_gunzip(b"not gzip", 10) is None


def test_multi_member_gzip_image_reads_like_nibabel(tmp_path):
    raw = nifti_bytes(image_array((9, 8, 7)), make_affine(), compress=False)
    path = tmp_path / "x.nii.gz"
    path.write_bytes(gzip.compress(raw[:500]) + gzip.compress(raw[500:]))
    np.testing.assert_array_equal(read_volume(path).array,
                                  np.asarray(nib.load(path).dataobj, np.float32))


def test_a_fifo_named_nii_gz_never_blocks_validate(tmp_path):
    rows = [case_row(tmp_path, "c1")]
    fifo = tmp_path / "c1" / "fifo_t2.nii.gz"
    os.mkfifo(fifo)
    rows[0]["t2"] = "c1/fifo_t2.nii.gz"
    manifest = write_cohort(tmp_path, rows)
    found: list[object] = []
    worker = threading.Thread(target=lambda: found.append(validate_manifests([manifest])),
                              daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "validate blocked on a FIFO"
    problem = only(found[0], "unreadable_file")
    assert (problem.case_id, problem.column, problem.file) == ("c1", "t2", str(fifo))
    assert "not a regular file" in problem.message


SMALL = {"shape": (14, 12, 10), "centre_mm": (14.0, 12.0, 10.0), "core_radius_mm": 3.0,
         "edema_radius_mm": 6.0}


def test_a_model_output_map_gets_the_same_checks(tmp_path):
    case = build_case("a", **SMALL)
    raw = nifti_bytes(np.ones(case.grid.shape, np.float32), case.grid.affine, compress=False)
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(gzip_with_trailer(raw, TRAILER_BYTES))
    score, peak = peak_mb(lambda: read_score_map(bomb, case))
    assert score.shape == case.grid.shape and peak < 16
    liar = tmp_path / "liar.nii.gz"
    liar.write_bytes(gzip.compress(lying_header((1024, 1024, 512))))
    with pytest.raises(AdapterOutputError, match=r"more than a .*-byte gzip file can hold"):
        read_score_map(liar, case)
    fifo = tmp_path / "maps"
    fifo.mkdir()
    os.mkfifo(fifo / "a.nii.gz")
    adapter = PrecomputedAdapter("vendor", maps_dir="maps", base_dir=tmp_path)
    failure = safe_predict(adapter, case, ("recurrence",))
    assert isinstance(failure, AdapterFailure) and "a.nii.gz" in failure.reason
    assert failure.kind == "invalid_output"


def test_a_huge_predictions_json_is_refused(tmp_path):
    from imagination.tasks.outputs import PREDICTIONS_LIMIT, parse_predictions_json

    path = tmp_path / "predictions.json"
    with path.open("wb") as handle:
        handle.truncate(PREDICTIONS_LIMIT + 1)  # sparse: no disk used
    with pytest.raises(AdapterOutputError, match="limit"):
        parse_predictions_json(path, ["idh"])
    path.write_text('{"idh": {"mutant": 0.5, "mutant": 0.5}}')
    with pytest.raises(AdapterOutputError, match="duplicate key 'mutant'"):
        parse_predictions_json(path, ["idh"])


def test_every_nifti_read_goes_through_the_bounded_reader():
    """Inputs and model outputs are read by cohort.loading (read_volume / load_grid); only the
    packaged atlas (a file of nilearn's wheel) is opened directly."""
    import re

    import imagination

    package = Path(imagination.__file__).parent
    allowed = {"cohort/loading.py", "growth/atlas.py"}
    direct = re.compile(r"\b(nib|nibabel)\.load\(")
    offenders = [rel for path in sorted(package.rglob("*.py"))
                 if (rel := str(path.relative_to(package))) not in allowed
                 and direct.search(path.read_text())]
    assert offenders == [], f"read NIfTI files through cohort.loading.read_volume: {offenders}"
