"""Each dataset's traps, checked on its fake tree against hand-written expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagination.cohort.importers import DatasetWarning, import_dataset
from imagination.cohort.importers.bids import parse_name
from imagination.cohort.importers.ucsf_pdgm import normalise_id
from imagination.cohort.labelmap import LabelMap
from imagination.errors import CaseError, InputError

from . import fake_trees


def by_case(rows):
    return {r["case_id"]: r for r in rows}


# --- BraTS 2021 / 2023 --------------------------------------------------------------------------

def test_brats2021_codes_sites_and_mgmt(tmp_path):
    root = fake_trees.brats2021(tmp_path)
    rows, meta = import_dataset("brats2021", root)
    assert LabelMap.from_spec(meta.label_map).codes == {1: "NETC", 2: "SNFH", 4: "ET"}
    cases = by_case(rows)
    assert set(cases) == {"BraTS2021_00000", "BraTS2021_00097", "BraTS2021_00123"}
    assert cases["BraTS2021_00000"]["site"] == "TCGA-GBM"
    assert cases["BraTS2021_00097"]["site"] == "UCSF-PDGM"
    assert cases["BraTS2021_00123"]["site"] == "BraTS2021"  # not in the mapping sheet
    assert cases["BraTS2021_00000"]["mgmt"] == "methylated"
    assert cases["BraTS2021_00097"]["mgmt"] == "unmethylated"
    assert cases["BraTS2021_00123"]["mgmt"] is None
    assert cases["BraTS2021_00000"]["t1c"].endswith("BraTS2021_00000_t1ce.nii.gz")


def test_brats2023_uses_2023_codes_and_timepoints(tmp_path):
    root = fake_trees.brats2023(tmp_path)
    with pytest.warns(DatasetWarning, match="brats2021_aliases"):
        rows, meta = import_dataset("brats2023", root)
    assert LabelMap.from_spec(meta.label_map).codes == {1: "NETC", 2: "SNFH", 3: "ET"}
    cases = by_case(rows)
    assert cases["BraTS-GLI-00000-001"]["subject_id"] == "BraTS-GLI-00000"
    assert cases["BraTS-GLI-00000-001"]["timepoint"] == "001"
    assert cases["BraTS-GLI-00000-000"]["flair"].endswith("-t2f.nii.gz")
    rows, _ = import_dataset("brats2023", root, {"brats2021_aliases": "true"})
    assert by_case(rows)["BraTS-GLI-00002-000"]["subject_aliases"] == "brats2021:BraTS2021_00002"


def test_brats2023_mixed_collections_need_a_choice(tmp_path):
    root = fake_trees.brats2023(tmp_path, ("MEN", "MET"))
    with pytest.raises(InputError, match="several collections"):
        import_dataset("brats2023", root)
    rows, _ = import_dataset("brats2023", root, {"collection": "met"})
    assert {r["tumor_type"] for r in rows} == {"metastasis"}
    assert {r["site"] for r in rows} == {"BraTS-MET"}
    with pytest.raises(InputError, match="no BraTS-GLI"):
        import_dataset("brats2023", root, {"collection": "gli"})


def test_case_folder_without_images_names_the_folder(tmp_path):
    (tmp_path / "BraTS2021_00001").mkdir()
    with pytest.raises(InputError, match=r"BraTS2021_00001.*BraTS2021_00001_t1ce\.nii\.gz"), \
            pytest.warns(DatasetWarning, match="mapping sheet"):
        import_dataset("brats2021", tmp_path)


# --- UCSF-PDGM ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("UCSF-PDGM-004", ("UCSF-PDGM-0004", "UCSF-PDGM-0004", "baseline")),
    ("UCSF-PDGM-0004", ("UCSF-PDGM-0004", "UCSF-PDGM-0004", "baseline")),
    ("UCSF-PDGM-0391_FU016d", ("UCSF-PDGM-0391_FU016d", "UCSF-PDGM-0391", "FU016d")),
    ("UCSF-PDGM-315", ("UCSF-PDGM-0315", "UCSF-PDGM-0433", "FU007d")),  # pre-v3 name
])
def test_ucsf_ids_are_normalised_to_four_digits(raw, expected):
    assert normalise_id(raw) == expected


def test_ucsf_labels_follow_ups_and_brats_overlap(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    with pytest.warns(DatasetWarning, match="UCSF-PDGM-0007"):
        rows, meta = import_dataset("ucsf-pdgm", root)
    assert meta.label_map == "brats2021"
    cases = by_case(rows)
    assert set(cases) == {"UCSF-PDGM-0004", "UCSF-PDGM-0005", "UCSF-PDGM-0391",
                          "UCSF-PDGM-0391_FU016d"}
    first = cases["UCSF-PDGM-0004"]  # table row "UCSF-PDGM-004"
    assert (first["idh"], first["mgmt"], first["grade"], first["age"], first["sex"]) == (
        "wildtype", "unmethylated", "4", "66", "M")
    assert first["subject_aliases"] == "brats2021:BraTS2021_00097"
    second = cases["UCSF-PDGM-0005"]
    assert second["idh"] == "mutant"  # "IDH1 p.R132H"
    assert second["codeletion_1p19q"] is None  # "relative co-deletion"
    assert second["tumor_type"] == "astrocytoma"
    follow_up = cases["UCSF-PDGM-0391_FU016d"]
    assert follow_up["subject_id"] == "UCSF-PDGM-0391" and follow_up["timepoint"] == "FU016d"
    assert follow_up["mgmt"] is None  # "indeterminate"
    assert follow_up["codeletion_1p19q"] == "codeleted"
    assert first["t1"].endswith("_T1.nii.gz") and first["mask_brain"].endswith(
        "_brain_segmentation.nii.gz")
    assert meta.extra_modalities == ["swi"]


def test_ucsf_diagnosis_text_is_never_exported(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    out = tmp_path / "ucsf.yaml"
    from imagination.cohort.importers.registry import import_to_manifest
    with pytest.warns(DatasetWarning):
        import_to_manifest("ucsf-pdgm", root, out)
    text = out.read_text()
    assert "IDH-wildtype" not in text and "IDH-mutant" not in text
    assert "diagnosis" not in text.lower()


def test_ucsf_bias_corrected_option(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    with pytest.warns(DatasetWarning):
        rows, _ = import_dataset("ucsf-pdgm", root, {"bias_corrected": "yes"})
    assert all(r[m].endswith("_bias.nii.gz") for r in rows for m in ("t1", "t1c", "t2", "flair"))
    assert not any(r["adc"].endswith("_bias.nii.gz") for r in rows)


def test_ucsf_without_table_is_an_input_error(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    (root / "UCSF-PDGM-metadata_v5.csv").unlink()
    with pytest.raises(InputError, match=r"UCSF-PDGM-metadata_v.*BraTS21"):
        import_dataset("ucsf-pdgm", root)


def test_ucsf_unknown_label_spelling_names_case_column_and_file(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    table = root / "UCSF-PDGM-metadata_v5.csv"
    table.write_text(table.read_text().replace("negative", "weakly positive", 1))
    with pytest.raises(CaseError) as caught:
        import_dataset("ucsf-pdgm", root)
    assert caught.value.case_id == "UCSF-PDGM-0004"
    assert caught.value.column == "MGMT status"
    assert caught.value.file.endswith("UCSF-PDGM-metadata_v5.csv")
    assert "weakly positive" in str(caught.value)


def test_ucsf_table_missing_a_column_is_an_input_error(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    table = root / "UCSF-PDGM-metadata_v5.csv"
    table.write_text(table.read_text().replace("BraTS21 ID", "BraTS ID", 1))
    with pytest.raises(InputError, match=r"lacks column.*BraTS21 ID"):
        import_dataset("ucsf-pdgm", root)


# --- UPENN-GBM ----------------------------------------------------------------------------------

def test_upenn_timepoints_share_a_subject_and_manual_masks_by_default(tmp_path):
    root = fake_trees.upenn_gbm(tmp_path)
    rows, meta = import_dataset("upenn-gbm", root)
    assert meta.label_map == "brats2021"
    cases = by_case(rows)
    base, follow = cases["UPENN-GBM-00001_11"], cases["UPENN-GBM-00001_21"]
    assert base["subject_id"] == follow["subject_id"] == "UPENN-GBM-00001"
    assert (base["timepoint"], follow["timepoint"]) == ("baseline", "followup")
    assert base["mask_tumor"].endswith("images_segm/UPENN-GBM-00001_11_segm.nii.gz")
    assert follow["mask_tumor"] is None and cases["UPENN-GBM-00002_11"]["mask_tumor"] is None
    assert (base["idh"], base["mgmt"], base["sex"], base["age"]) == (
        "wildtype", "methylated", "F", "52.16")
    assert (follow["idh"], follow["mgmt"], follow.get("age")) == ("wildtype", "methylated", None)
    assert cases["UPENN-GBM-00002_11"]["idh"] is None  # NOS/NEC


@pytest.mark.parametrize(("choice", "with_mask", "automated"), [
    ("automated", 3, 3), ("manual-first", 3, 2)])
def test_upenn_segmentation_choice(tmp_path, choice, with_mask, automated):
    rows, _ = import_dataset("upenn-gbm", fake_trees.upenn_gbm(tmp_path),
                             {"segmentation": choice})
    masks = [r["mask_tumor"] for r in rows if r["mask_tumor"]]
    assert len(masks) == with_mask
    assert sum("automated_approx_segm" in m for m in masks) == automated


# --- EGD ----------------------------------------------------------------------------------------

def test_egd_metadata_keys_shared_brain_mask_and_no_binary_tumour_mask(tmp_path):
    root = fake_trees.egd(tmp_path)
    with pytest.warns(DatasetWarning, match="whole-tumour MASK"):
        rows, meta = import_dataset("egd", root)
    assert meta.label_map is None
    cases = by_case(rows)
    one, two = cases["EGD-0001"], cases["EGD-0002"]
    assert (one["idh"], one["codeletion_1p19q"], one["grade"]) == ("mutant", "intact", "3")
    assert (two["idh"], two["codeletion_1p19q"], two["grade"]) == ("wildtype", None, "4")
    assert (one["age"], one["sex"], one["field_strength"]) == ("41.5", "F", "1.5")
    assert one["scanner"] == "Philips Medical Systems Ingenia"
    assert one["mask_brain"] == two["mask_brain"]
    assert one["mask_brain"].endswith("METADATA/Brain_mask.nii.gz")
    assert "mask_tumor" not in one and one["t1c"].endswith("T1GD.nii.gz")


def test_egd_broken_metadata_json_names_the_file(tmp_path):
    root = fake_trees.egd(tmp_path)
    (root / "SUBJECTS" / "EGD-0002" / "metadata.json").write_text("{not json")
    with pytest.raises(CaseError, match="EGD-0002") as caught:
        import_dataset("egd", root)
    assert caught.value.file.endswith("metadata.json")


# --- LUMIERE ------------------------------------------------------------------------------------

def test_lumiere_week_folders_are_timepoints_in_atlas_space(tmp_path):
    root = fake_trees.lumiere(tmp_path)
    with pytest.warns(DatasetWarning) as caught:
        rows, meta = import_dataset("lumiere", root)
    messages = " ".join(str(w.message) for w in caught)
    assert "RANO rating(s)" in messages and "Patient-002/week-000" in messages
    assert LabelMap.from_spec(meta.label_map).codes == {1: "ET", 2: "NETC", 3: "SNFH"}
    cases = by_case(rows)
    assert set(cases) == {f"LUMIERE-Patient-001_{w}" for w in
                          ("week-000-1", "week-000-2", "week-012", "week-044", "week-056")}
    week = cases["LUMIERE-Patient-001_week-044"]
    assert week["timepoint"] == "week-044" and week["subject_id"] == "LUMIERE-Patient-001"
    assert week["t1c"].endswith("atlas/skull_strip/ct1_skull_strip.nii.gz")
    assert (week["idh"], week["mgmt"], week["sex"]) == ("wildtype", "unmethylated", "M")
    assert (week["scanner"], week["field_strength"]) == ("SIEMENS Skyra", "3")


def test_lumiere_ratings_become_responses_paired_as_brat_pro_pairs_them(tmp_path):
    """Hand-worked on the fake ratings: Pre-Op (first visit, skipped), Post-Op (baseline),
    SD week 12, SD week 30 (no images: left out), PR week 44 (resets), PD week 56."""
    root = fake_trees.lumiere(tmp_path)
    with pytest.warns(DatasetWarning, match="1 expert RANO rating"):
        rows, meta = import_dataset("lumiere", root)
    cases = by_case(rows)
    post = "LUMIERE-Patient-001_week-000-2"
    links = {c: (r.get("baseline_case_id"), r.get("response"), r["days_from_baseline"])
             for c, r in cases.items()}
    assert links == {
        "LUMIERE-Patient-001_week-000-1": (None, None, 0),
        post: (None, None, 1),
        "LUMIERE-Patient-001_week-012": (post, "SD", 84),
        "LUMIERE-Patient-001_week-044": (post, "PR", 308),
        "LUMIERE-Patient-001_week-056": ("LUMIERE-Patient-001_week-044", "PD", 392),
    }
    assert meta.vocabularies["response"] == ["CR", "PR", "SD", "PD"]


def test_lumiere_unknown_rating_names_case_column_and_file(tmp_path):
    root = fake_trees.lumiere(tmp_path)
    table = root / "LUMIERE-ExpertRating-v202211.csv"
    table.write_text(table.read_text().replace(",PD,", ",Progression,"))
    with pytest.warns(DatasetWarning), pytest.raises(CaseError) as caught:
        import_dataset("lumiere", root)
    assert caught.value.case_id == "LUMIERE-Patient-001_week-056"
    assert caught.value.column == fake_trees.LUMIERE_RATING
    assert caught.value.file == str(table.resolve())


# --- RHUH-GBM -----------------------------------------------------------------------------------

def test_rhuh_timepoints_codes_and_negative_background_warning(tmp_path):
    root = fake_trees.rhuh_gbm(tmp_path)
    with pytest.warns(DatasetWarning, match="negative background"):
        rows, meta = import_dataset("rhuh-gbm", root)
    assert meta.label_map == "brats2023"
    cases = by_case(rows)
    assert len(cases) == 6
    assert [cases[f"RHUH-0001_{t}"]["timepoint"] for t in "012"] == [
        "preop", "postop", "followup"]
    one, two = cases["RHUH-0001_0"], cases["RHUH-0002_2"]
    assert (one["idh"], one["sex"], one["grade"], one["tumor_type"]) == (
        "wildtype", "M", "4", "glioblastoma")
    assert two["idh"] is None  # NOS
    assert one["adc"].endswith("RHUH-0001_0_adc.nii.gz")
    assert all(r.get("mask_brain") is None for r in rows)


# --- BIDS ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("sub-01_ses-pre_ce-gadolinium_T1w.nii.gz",
     ({"sub": "01", "ses": "pre", "ce": "gadolinium"}, "T1w")),
    ("sub-01_FLAIR.nii", ({"sub": "01"}, "FLAIR")),
    ("participants.tsv", None),
    ("notbids_T1w.nii.gz", None),
])
def test_bids_names_are_parsed(name, expected):
    assert parse_name(Path(name)) == expected


def test_bids_sessions_ce_entity_and_dseg_label_map(tmp_path):
    root = fake_trees.bids(tmp_path)
    rows, meta = import_dataset("bids", root)
    assert meta.name == "glioma-study"
    assert LabelMap.from_spec(meta.label_map).codes == {1: "NETC", 2: "SNFH", 3: "ET"}
    cases = by_case(rows)
    pre = cases["glioma-study-sub-01_ses-pre"]
    assert pre["timepoint"] == "pre" and pre["subject_id"] == "glioma-study-sub-01"
    assert pre["t1c"].endswith("ce-gadolinium_T1w.nii.gz") and pre["t1"].endswith("pre_T1w.nii.gz")
    assert pre["mask_tumor"].endswith("desc-tumor_dseg.nii.gz")
    assert (pre["site"], pre["idh"], pre["age"]) == ("Bonn", "wildtype", "54")
    assert cases["glioma-study-sub-02"]["timepoint"] is None


def test_bids_tumour_masks_without_label_map_are_refused(tmp_path):
    root = fake_trees.bids(tmp_path)
    (root / "derivatives" / "tumorseg" / "desc-tumor_dseg.tsv").unlink()
    with pytest.raises(InputError, match="no label map"):
        import_dataset("bids", root)
    rows, meta = import_dataset("bids", root, label_map="brats2023")
    assert meta.label_map == "brats2023" and rows


def test_bids_needs_a_dataset_description(tmp_path):
    (tmp_path / "sub-01" / "anat").mkdir(parents=True)
    with pytest.raises(InputError, match=r"dataset_description\.json"):
        import_dataset("bids", tmp_path)


def test_label_map_override_must_be_a_preset(tmp_path):
    root = fake_trees.brats2021(tmp_path)
    with pytest.raises(InputError, match="unknown preset"):
        import_dataset("brats2021", root, label_map="brats1999")


def test_bids_participant_label_outside_vocabulary_is_refused(tmp_path):
    root = fake_trees.bids(tmp_path)
    table = root / "participants.tsv"
    table.write_text(table.read_text().replace("wildtype", "IDH-wt"))
    with pytest.raises(CaseError, match="IDH-wt") as caught:
        import_dataset("bids", root)
    assert caught.value.case_id == "sub-01" and caught.value.column == "idh"
    assert json.loads((root / "dataset_description.json").read_text())["Name"]


def test_ucsf_idh_contradicting_the_diagnosis_is_reported(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    table = root / "UCSF-PDGM-metadata_v5.csv"
    table.write_text(table.read_text().replace("IDH1 p.R132H", "wildtype", 1))
    with pytest.warns(DatasetWarning) as caught:
        rows, _ = import_dataset("ucsf-pdgm", root)
    assert any("UCSF-PDGM-0005: IDH column says wildtype" in str(w.message) for w in caught)
    assert by_case(rows)["UCSF-PDGM-0005"]["idh"] == "wildtype"


def test_files_wrapped_in_a_folder_of_their_name_are_found(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    folder = root / "UCSF-PDGM-v5" / "UCSF-PDGM-0005_nifti"
    plain = folder / "UCSF-PDGM-0005_ADC.nii.gz"
    wrapper = folder / "wrap"
    wrapper.mkdir()
    plain.rename(wrapper / plain.name)
    (wrapper).rename(plain)  # folder UCSF-PDGM-0005_ADC.nii.gz/UCSF-PDGM-0005_ADC.nii.gz
    with pytest.warns(DatasetWarning):
        rows, _ = import_dataset("ucsf-pdgm", root)
    adc = by_case(rows)["UCSF-PDGM-0005"]["adc"]
    assert adc == str(plain / plain.name) and Path(adc).is_file()


def test_the_same_case_twice_is_an_input_error(tmp_path):
    root = fake_trees.ucsf_pdgm(tmp_path)
    twin = root / "UCSF-PDGM-v5" / "UCSF-PDGM-0005"
    (root / "UCSF-PDGM-v5" / "UCSF-PDGM-0005_nifti").rename(twin)
    fake_trees.image(twin / "UCSF-PDGM-0005_T1c.nii.gz")
    other = root / "UCSF-PDGM-v5" / "UCSF-PDGM-0005_nifti"
    fake_trees.image(other / "UCSF-PDGM-0005_T1c.nii.gz")
    with pytest.raises(InputError, match="UCSF-PDGM-0005 appears twice"), \
            pytest.warns(DatasetWarning):
        import_dataset("ucsf-pdgm", root)


def test_unreadable_folder_is_an_input_error(tmp_path, monkeypatch):
    root = fake_trees.egd(tmp_path)

    def refuse(self, pattern):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "glob", refuse)
    with pytest.raises(InputError, match=r"egd: cannot read .*Permission denied"):
        import_dataset("egd", root)
