"""Each layout with a real container (podman) running a busybox test image unchanged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import SimpleITK as sitk

from imagination.adapters.container import ContainerAdapter
from imagination.adapters.validation import MissingModalityError

#: one worker runs every container test (one podman store, images loaded once)
pytestmark = pytest.mark.xdist_group("containers")


def adapter(archives, name: str, layout: str, tasks, **params):  # type: ignore[no-untyped-def]
    path, image_id = archives[name]
    built = ContainerAdapter(image_archive=str(path), digest=image_id, layout=layout,
                             tasks=tasks, runtime="podman", timeout_s=120, **params)
    built.prepare()
    return built


def expected_segmentation(case, snfh: int = 2) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The test images' rule, computed here with NumPy: ET where t1c > 0.75 max, SNFH where
    flair > 0.75 max elsewhere (BraTS 2023 codes 3 and 2; the nnU-Net image writes SNFH 1)."""
    t1c, flair = case.images["t1c"], case.images["flair"]
    et = t1c > 0.75 * t1c.max()
    out = np.zeros(t1c.shape, dtype=np.int16)
    out[~et & (flair > 0.75 * flair.max())] = snfh
    out[et] = 3
    return out


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_brats_layout_segments_the_case(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    model = adapter(archives, "brats", "brats", ["recurrence"])
    request = dataclasses.replace(model.request(case), tasks=("segmentation",))
    labels = run_layout(model, request)
    np.testing.assert_array_equal(labels, expected_segmentation(case))
    assert dice(labels == 3, case.masks["tumor"] == 3) > 0.8  # ET found where it is


def run_layout(model, request):  # type: ignore[no-untyped-def]
    """Stage, run and read one case through the adapter's layout and runtime."""
    import shutil
    import tempfile
    from pathlib import Path

    from imagination.containers.runtime import RunRequest, run_container

    work = Path(tempfile.mkdtemp())
    try:
        staged = model.layout.stage(request, work)
        result = run_container(model.runtime, RunRequest(
            image=model.reference(), mounts=tuple(staged.mounts), args=tuple(staged.args),
            env=staged.env, limits=model.limits, timeout_s=60), work)
        assert result.status == 0, result.logs
        return model.layout.read(request, staged).label_map
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_brats_post_operative_suffix(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    post = dataclasses.replace(case, case=dataclasses.replace(case.case, timepoint="post-op"))
    model = adapter(archives, "brats", "brats", ["recurrence"],
                    layout_options={"outputs": {"label_map": "BraTS-GLI-00000-100.nii.gz"}})
    request = dataclasses.replace(model.request(post), tasks=("segmentation",))
    assert request.timepoint == "post-op"
    np.testing.assert_array_equal(run_layout(model, request), expected_segmentation(case))


def test_nnunet_layout_channel_order(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    model = adapter(archives, "nnunet", "nnunet", ["recurrence"],
                    layout_options={"channels": ["t1", "t1c", "t2", "flair"]})
    request = dataclasses.replace(model.request(case), tasks=("segmentation",))
    np.testing.assert_array_equal(run_layout(model, request),
                                  expected_segmentation(case, snfh=1))


def test_mhub_layout(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    model = adapter(archives, "mhub", "mhub", ["recurrence"],
                    layout_options={"modalities": ["t1c", "flair"]})
    request = dataclasses.replace(model.request(case), tasks=("segmentation",))
    np.testing.assert_array_equal(run_layout(model, request), expected_segmentation(case))


def test_predict_gbm_layout_scores_recurrence(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    model = adapter(archives, "predict-gbm", "predict-gbm", ["recurrence"])
    predictions = model.predict(case)
    # the image returns its tumorseg input: the case's mask in BraTS 2024 codes
    np.testing.assert_array_equal(predictions.outputs["recurrence"],
                                  case.masks["tumor"].astype(np.float32))


def test_predict_gbm_without_tissue_maps_fails_the_case(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    del case.tissues["gm"]
    model = adapter(archives, "predict-gbm", "predict-gbm", ["recurrence"])
    with pytest.raises(MissingModalityError, match="tissue_gm"):
        model.predict(case)


def test_grand_challenge_layout_reads_metaimage(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    model = adapter(archives, "grand-challenge", "grand-challenge", ["recurrence"],
                    layout_options={"modalities": ["t1c"]})
    predictions = model.predict(case)
    np.testing.assert_array_equal(predictions.outputs["recurrence"], case.images["t1c"])


def test_imagination_layout_classification(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    model = adapter(archives, "imagination", "imagination", ["idh"],
                    modalities=["t2", "flair"])
    predictions = model.predict(case)
    t2 = case.images["t2"].astype(np.float64).sum()
    flair = case.images["flair"].astype(np.float64).sum()
    assert predictions.outputs["idh"]["mutant"] == pytest.approx(t2 / (t2 + flair),
                                                                        abs=1e-5)


def test_custom_layout_templates(podman, archives, case) -> None:  # type: ignore[no-untyped-def]
    model = adapter(archives, "custom", "custom", ["recurrence"], layout_options={
        "inputs": {"t1c": "{case_id}/t1ce.nii.gz", "mask_tumor": "{case_id}/seg.nii.gz"},
        "outputs": {"label_map": "pred/{case_id}.nii.gz"},
        "input_mount": "/data/in", "output_mount": "/data/out"})
    request = dataclasses.replace(model.request(case), tasks=("segmentation",))
    labels = run_layout(model, request)
    np.testing.assert_array_equal(labels, case.masks["tumor"])  # brats2023 keeps codes 1-3


def test_metaimage_round_trip_matches_simpleitk_geometry(tmp_path, case) -> None:  # type: ignore[no-untyped-def]
    from imagination.cohort.nifti import write_nifti
    from imagination.containers.layouts.mha import write_mha

    write_mha(tmp_path / "a.mha", case.images["t1c"], case.grid)
    write_nifti(tmp_path / "a.nii.gz", case.images["t1c"], case.grid.affine)
    mha, nii = sitk.ReadImage(str(tmp_path / "a.mha")), sitk.ReadImage(str(tmp_path / "a.nii.gz"))
    assert mha.GetOrigin() == pytest.approx(nii.GetOrigin())
    assert mha.GetDirection() == pytest.approx(nii.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mha), sitk.GetArrayFromImage(nii))
