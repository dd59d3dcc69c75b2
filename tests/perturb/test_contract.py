"""The contract every perturbation keeps: replayable, seed-sensitive, never mutating, same grid,
float32 finite images and integer masks; registry, seeds and errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagination.cohort.vocabulary import MODALITIES
from imagination.errors import CaseError, InputError
from imagination.perturb import (
    apply_perturbation,
    available,
    is_applicable,
    perturbation_record,
    perturbation_seed,
    validate_request,
)
from imagination.perturb.base import NOT_APPLICABLE

from .cases import make_case

KINDS = [k for k in available() if k not in {f"drop_{m}" for m in ("t2", "adc", "dwi", "rcbv")}]
SEEDED = [k for k, info in available().items() if info.seeded]


def _snapshot(case):
    return ({m: a.copy() for m, a in case.images.items()},
            {m: a.copy() for m, a in case.masks.items()})


def _same(a, b) -> bool:
    return (a.images.keys() == b.images.keys() and a.masks.keys() == b.masks.keys()
            and all(np.array_equal(a.images[m], b.images[m]) for m in a.images)
            and all(np.array_equal(a.masks[m], b.masks[m]) for m in a.masks))


def test_registry_documents_every_kind() -> None:
    infos = available()
    expected = {"noise", "bias_field", "gamma", "blur", "anisotropy", "motion", "ghosting",
                "spike", "misregister_mri", "misregister_pet", "mask_dilate", "mask_erode"}
    assert expected | {f"drop_{m}" for m in MODALITIES} == set(infos)
    for name, info in infos.items():
        assert info.name == name and info.description and info.touches and info.parameter
        assert len(info.levels) == 5
        assert all(b >= a for a, b in zip(info.levels, info.levels[1:], strict=False)), name
        if not name.startswith("drop_"):
            assert info.levels[4] > info.levels[0], name
    misregistration = infos["misregister_pet"].levels
    assert misregistration[0] == 1.0 and misregistration[-1] == 3.0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("severity", [1, 5])
def test_replayable_pure_and_well_typed(kind: str, severity: int) -> None:
    case = make_case()
    images, masks = _snapshot(case)
    out = apply_perturbation(case, kind, severity, 1234)
    again = apply_perturbation(case, kind, severity, 1234)
    assert _same(out, again)
    assert out is not case and out.grid == case.grid
    assert out.case is case.case or kind.startswith("drop_")
    # the input is untouched and the output shares no memory with it
    assert all(np.array_equal(case.images[m], images[m]) for m in images)
    assert all(np.array_equal(case.masks[m], masks[m]) for m in masks)
    for m, a in out.images.items():
        assert not np.shares_memory(a, case.images[m])
        assert a.dtype == np.float32 and a.shape == case.grid.shape and np.all(np.isfinite(a))
    for m, a in out.masks.items():
        assert not np.shares_memory(a, case.masks[m])
        assert a.dtype == case.masks[m].dtype and a.shape == case.grid.shape
    assert not _same(out, case), f"{kind}@{severity} changed nothing"


@pytest.mark.parametrize("kind", SEEDED)
def test_another_seed_gives_another_result(kind: str) -> None:
    case = make_case()
    results = [apply_perturbation(case, kind, 3, seed) for seed in (1, 2, 3)]
    assert not (_same(results[0], results[1]) and _same(results[0], results[2]))


@pytest.mark.parametrize("kind", ["noise", "bias_field", "gamma", "blur", "anisotropy"])
def test_intensity_kinds_leave_pet_unless_asked(kind: str) -> None:
    case = make_case()
    default = apply_perturbation(case, kind, 3, 5)
    assert np.array_equal(default.images["pet"], case.images["pet"])
    assert not np.array_equal(default.images["t1"], case.images["t1"])
    if kind == "bias_field":
        with pytest.raises(InputError, match="pet"):
            apply_perturbation(case, kind, 3, 5, {"modalities": ["pet"]})
        return
    only_pet = apply_perturbation(case, kind, 3, 5, {"modalities": ["pet"]})
    assert not np.array_equal(only_pet.images["pet"], case.images["pet"])
    assert np.array_equal(only_pet.images["t1"], case.images["t1"])


@pytest.mark.parametrize("kind", ["motion", "ghosting", "spike"])
def test_kspace_kinds_refuse_pet(kind: str) -> None:
    with pytest.raises(InputError, match="pet"):
        apply_perturbation(make_case(), kind, 2, 0, {"modalities": ["pet", "t1"]})


def test_drop_pet_removes_only_pet() -> None:
    case = make_case()
    out = apply_perturbation(case, "drop_pet", 1, 0)
    assert set(out.images) == {"t1", "t1c", "flair"} and "pet" in case.images
    assert out.case.modalities == ("t1", "t1c", "flair") and "pet" in case.case.images
    assert out.case.case_id == case.case_id and out.case.label_map == case.case.label_map
    assert all(np.array_equal(out.images[m], case.images[m]) for m in out.images)
    # any declared modality can be dropped, canonical or not
    extra = make_case(("t1c", "swi"))
    assert set(apply_perturbation(extra, "drop_swi", 2, 0).images) == {"t1c"}


def test_not_applicable_is_a_case_error_naming_the_case() -> None:
    mri_only = make_case(("t1c",), case_id="lonely")
    for kind in ("drop_pet", "misregister_pet", "misregister_mri"):
        assert not is_applicable(mri_only, kind)
        with pytest.raises(CaseError, match="lonely") as info:
            apply_perturbation(mri_only, kind, 1, 0)
        assert info.value.code == NOT_APPLICABLE and info.value.case_id == "lonely"
    pet_only = make_case(("pet",))
    assert not is_applicable(pet_only, "noise")
    with pytest.raises(CaseError, match="no target image"):
        apply_perturbation(pet_only, "noise", 1, 0)
    assert is_applicable(make_case(), "misregister_mri")
    assert is_applicable(make_case(), "mask_dilate")


@pytest.mark.parametrize(("kind", "severity", "seed", "params", "message"), [
    ("snow", 1, 0, None, "unknown perturbation 'snow'"),
    ("noise", 0, 0, None, "severity must be an integer 1..5"),
    ("noise", 6, 0, None, "severity"),
    ("noise", 2.0, 0, None, "severity"),
    ("noise", True, 0, None, "severity"),
    ("noise", 1, -3, None, "seed"),
    ("noise", 1, 0, {"sigma": 2}, "unknown parameter"),
    ("noise", 1, 0, {"modalities": "t1"}, "list of names"),
    ("anisotropy", 1, 0, {"axis": 3}, "axis"),
    ("ghosting", 1, 0, {"ghosts": 1}, "ghosts"),
    ("mask_dilate", 1, 0, {"radius": 2}, "unknown parameter"),
])
def test_bad_requests_are_input_errors(kind, severity, seed, params, message) -> None:
    with pytest.raises(InputError, match=message):
        apply_perturbation(make_case(), kind, severity, seed, params)


def test_seed_is_a_documented_hash() -> None:
    expected = int.from_bytes(hashlib.sha256(
        json.dumps([7, "case-9", "noise", 3]).encode()).digest()[:8], "big") >> 1
    assert perturbation_seed(7, "case-9", "noise", 3) == expected
    seeds = {perturbation_seed(7, c, k, s) for c in ("a", "b") for k in ("noise", "blur")
             for s in (1, 2)}
    assert len(seeds) == 8 and all(0 <= s < 2**63 for s in seeds)


def test_seed_is_stable_across_processes() -> None:
    code = ("from imagination.perturb.registry import perturbation_seed; "
            "print(perturbation_seed(3, 'BraTS-001', 'spike', 4))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # str hashes differ from this process
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert int(result.stdout) == perturbation_seed(3, "BraTS-001", "spike", 4)


def test_record_replays_the_variant() -> None:
    record = perturbation_record("blur", 4, 99, {"modalities": ["t1"]})
    assert record["id"] == "blur@4" and record["value"] == 4.5 and record["seed"] == 99
    case = make_case()
    replay = apply_perturbation(case, record["kind"], record["severity"], record["seed"],
                                record["params"])
    assert _same(replay, apply_perturbation(case, "blur", 4, 99, {"modalities": ["t1"]}))


def test_requests_are_checked_before_any_case_is_loaded() -> None:
    assert validate_request("blur", 2, {"modalities": ["pet"]}).info.name == "blur"
    assert validate_request("drop_swi", 1).info.name == "drop_swi"
    for kind, severity, params, message in (
            ("spike", 1, {"modalities": ["pet"]}, "cannot apply to pet"),
            ("bias_field", 2, {"modalities": ["t1", "pet"]}, "cannot apply to pet"),
            ("misregister_pet", 1, {"modalities": ["pet"]}, "unknown parameter"),
            ("noise", 9, None, "severity"),
            ("gamma", 1, ["t1"], "mapping")):
        with pytest.raises(InputError, match=message):
            validate_request(kind, severity, params)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(KINDS), st.integers(1, 5), st.integers(0, 2**63 - 1))
def test_any_seed_gives_finite_arrays_on_the_grid(kind: str, severity: int, seed: int) -> None:
    case = make_case()
    out = apply_perturbation(case, kind, severity, seed)
    assert out.grid == case.grid
    for image in out.images.values():
        assert image.dtype == np.float32 and np.all(np.isfinite(image))
    assert all(np.issubdtype(m.dtype, np.integer) for m in out.masks.values())


def test_applicability_is_read_from_the_manifest_record() -> None:
    record = make_case(("t1c", "flair")).case
    assert is_applicable(record, "drop_flair") and not is_applicable(record, "drop_pet")
    assert is_applicable(record, "misregister_mri") and not is_applicable(record, "misregister_pet")
    assert is_applicable(record, "noise", {"modalities": ["flair"]})
    assert not is_applicable(record, "noise", {"modalities": ["t2"]})
    with pytest.raises(InputError, match="unknown perturbation"):
        is_applicable(record, "fog")
