"""Tumour types, their markers and imaging phenotypes, and per-case parameter sampling.

Growth parameters follow the published Fisher–Kolmogorov ranges (LMI, Ezhov et al. 2023:
D_w 0.02-1.5 mm²/day, rho 0.002-0.2 /day, T 50-1500 days; visibility thresholds
u_T1c in [0.5, 0.85], u_FLAIR in [0.05, 0.5]). Each type samples within a sub-range that gives
its phenotype: glioblastomas proliferate fast (ring enhancement around necrosis), IDH-mutant
gliomas grow slowly and diffusely with little enhancement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

D_WHITE_RANGE = (0.02, 1.5)  # mm²/day
RHO_RANGE = (0.002, 0.2)  # 1/day
GLIOMAS = ("glioblastoma", "astrocytoma", "oligodendroglioma")


@dataclass(frozen=True)
class TypeProfile:
    """Ranges from which a type's cases are drawn (uniform unless noted)."""

    name: str
    age_mean: float
    age_sd: float
    age_range: tuple[float, float]
    male_fraction: float
    grades: dict[str, float]
    idh: str | None
    codeletion: str | None
    mgmt_methylated: float | None
    rho: tuple[float, float] = (0.01, 0.1)  # log-uniform
    infiltration_mm: tuple[float, float] = (2.0, 6.0)  # sqrt(D/rho), log-uniform
    target_volume_ml: tuple[float, float] = (10.0, 60.0)  # volume with u >= u_T1c
    u_t1c: tuple[float, float] = (0.5, 0.85)
    u_flair: tuple[float, float] = (0.05, 0.5)
    necrosis_rim_mm: tuple[float, float] = (3.0, 7.0)
    #: fraction of the tumour core that enhances, per grade
    enhancing_fraction: dict[str, float] | None = None
    necrosis_grades: tuple[str, ...] = ()
    #: probability of the T2-FLAIR mismatch sign, per grade
    mismatch_probability: dict[str, float] | None = None
    #: visible recurrence volume at follow-up: the core (u >= u_T1c) if True, else FLAIR
    core_recurrence: bool = False
    followup_volume_ml: tuple[float, float] = (10.0, 60.0)
    #: mean number of occult foci: infiltrates along white matter, below MRI visibility
    occult_foci_rate: float = 0.0
    heterogeneity: float = 0.05
    calcification: float = 0.0
    vasogenic_edema_mm: tuple[float, float] = (0.0, 0.0)
    pet_uptake: tuple[float, float] = (1.0, 2.5)  # TBR gain a in 1 + a u / (u + k)
    location: str = "deep_white_matter"


PROFILES: dict[str, TypeProfile] = {
    "glioblastoma": TypeProfile(
        name="glioblastoma", age_mean=63, age_sd=10, age_range=(30, 88), male_fraction=0.6,
        grades={"4": 1.0}, idh="wildtype", codeletion="intact", mgmt_methylated=0.45,
        rho=(0.04, 0.15), infiltration_mm=(2.5, 8.0), target_volume_ml=(15, 70),
        u_t1c=(0.5, 0.75), u_flair=(0.1, 0.4), necrosis_rim_mm=(3.5, 9.0),
        enhancing_fraction={"4": 1.0}, necrosis_grades=("4",), heterogeneity=0.06,
        core_recurrence=True, followup_volume_ml=(3.0, 30.0), occult_foci_rate=1.2,
        vasogenic_edema_mm=(6.0, 16.0), pet_uptake=(1.8, 3.2),
        location="deep_white_matter",
    ),
    "astrocytoma": TypeProfile(
        name="astrocytoma", age_mean=38, age_sd=10, age_range=(18, 72), male_fraction=0.55,
        grades={"2": 0.5, "3": 0.35, "4": 0.15}, idh="mutant", codeletion="intact",
        mgmt_methylated=0.8, rho=(0.006, 0.03), infiltration_mm=(3.0, 5.5),
        target_volume_ml=(15, 60), u_t1c=(0.6, 0.85), u_flair=(0.15, 0.5),
        necrosis_rim_mm=(4.0, 9.0), enhancing_fraction={"2": 0.0, "3": 0.12, "4": 0.5},
        necrosis_grades=("4",), mismatch_probability={"2": 0.6, "3": 0.45, "4": 0.1},
        heterogeneity=0.03,
        vasogenic_edema_mm=(0.0, 3.0), pet_uptake=(0.8, 2.2), location="frontal_white_matter",
        occult_foci_rate=0.6,
    ),
    "oligodendroglioma": TypeProfile(
        name="oligodendroglioma", age_mean=45, age_sd=12, age_range=(20, 78), male_fraction=0.55,
        grades={"2": 0.6, "3": 0.4}, idh="mutant", codeletion="codeleted", mgmt_methylated=0.9,
        rho=(0.006, 0.03), infiltration_mm=(2.5, 5.5), target_volume_ml=(10, 50),
        u_t1c=(0.55, 0.85), u_flair=(0.15, 0.5),
        enhancing_fraction={"2": 0.05, "3": 0.3}, mismatch_probability={"2": 0.04},
        heterogeneity=0.15, calcification=0.04, vasogenic_edema_mm=(0.0, 3.0),
        occult_foci_rate=0.4,
        pet_uptake=(1.2, 2.6), location="cortical",
    ),
    "meningioma": TypeProfile(
        name="meningioma", age_mean=60, age_sd=12, age_range=(25, 88), male_fraction=0.3,
        grades={"1": 0.8, "2": 0.2}, idh=None, codeletion=None, mgmt_methylated=None,
        target_volume_ml=(5, 40), heterogeneity=0.03, vasogenic_edema_mm=(0.0, 10.0),
        pet_uptake=(0.5, 1.5), location="convexity",
    ),
    "metastasis": TypeProfile(
        name="metastasis", age_mean=62, age_sd=11, age_range=(30, 88), male_fraction=0.5,
        grades={}, idh=None, codeletion=None, mgmt_methylated=None,
        target_volume_ml=(0.5, 8), heterogeneity=0.05, vasogenic_edema_mm=(8.0, 20.0),
        pet_uptake=(0.8, 2.0), location="grey_white_junction",
    ),
}


@dataclass(frozen=True)
class CaseParameters:
    """Every generating parameter of one case (written to truth.json)."""

    tumor_type: str
    grade: str | None
    idh: str | None
    codeletion_1p19q: str | None
    mgmt: str | None
    age: float
    sex: str
    d_white: float
    rho: float
    diffusivity_ratio: float
    target_volume_ml: float
    u_t1c: float
    u_flair: float
    necrosis_rim_mm: float
    enhancing_fraction: float
    necrosis: bool
    mismatch: bool
    heterogeneity: float
    calcification: float
    vasogenic_edema_mm: float
    pet_uptake: float
    pet_half_saturation: float
    treatment_survival: float
    followup_volume_ml: float
    #: survival outside the radiotherapy field (15 mm around the core) relative to inside
    out_of_field_survival_factor: float
    n_occult_foci: int
    core_recurrence: bool
    n_lesions: int

    @property
    def is_glioma(self) -> bool:
        return self.tumor_type in GLIOMAS


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _growth_rates(rng: np.random.Generator, profile: TypeProfile,
                  methylated: bool) -> tuple[float, float]:
    """(D_w, rho) with D_w = rho * l², both inside the published ranges."""
    for _ in range(1000):
        rho = _log_uniform(rng, *profile.rho)
        if methylated:
            rho *= 0.9  # weak MGMT phenotype: slightly slower proliferation
        length = _log_uniform(rng, *profile.infiltration_mm)
        d_white = rho * length**2
        if D_WHITE_RANGE[0] <= d_white <= D_WHITE_RANGE[1] and RHO_RANGE[0] <= rho:
            return d_white, rho
    raise RuntimeError(f"no growth parameters in range for {profile.name}")


def sample_case_parameters(rng: np.random.Generator, tumor_type: str,
                           age_shift: float = 0.0) -> CaseParameters:
    """Draw labels, covariates and imaging parameters of one case of ``tumor_type``."""
    profile = PROFILES[tumor_type]
    grade = _choice(rng, profile.grades) if profile.grades else None
    methylated = (profile.mgmt_methylated is not None
                  and bool(rng.random() < profile.mgmt_methylated))
    mgmt = None if profile.mgmt_methylated is None else (
        "methylated" if methylated else "unmethylated")
    age = float(np.clip(rng.normal(profile.age_mean + age_shift, profile.age_sd),
                        *profile.age_range))
    sex = "M" if rng.random() < profile.male_fraction else "F"
    d_white, rho = _growth_rates(rng, profile, methylated)
    enhancing = (profile.enhancing_fraction or {}).get(grade or "", 1.0)
    rim = float(rng.uniform(*profile.necrosis_rim_mm))
    if methylated:
        rim += 0.5  # weak MGMT phenotype: a little less necrosis
    survival = float(rng.uniform(0.02, 0.2))
    if methylated:
        survival *= 0.7  # temozolomide works better on methylated tumours
    return CaseParameters(
        tumor_type=tumor_type, grade=grade, idh=profile.idh,
        codeletion_1p19q=profile.codeletion, mgmt=mgmt, age=round(age, 1), sex=sex,
        d_white=d_white, rho=rho, diffusivity_ratio=10.0,
        target_volume_ml=float(rng.uniform(*profile.target_volume_ml)),
        u_t1c=float(rng.uniform(*profile.u_t1c)), u_flair=float(rng.uniform(*profile.u_flair)),
        necrosis_rim_mm=rim, enhancing_fraction=float(enhancing),
        necrosis=grade in profile.necrosis_grades,
        mismatch=bool(rng.random() < (profile.mismatch_probability or {}).get(grade or "", 0.0)),
        heterogeneity=profile.heterogeneity, calcification=profile.calcification,
        vasogenic_edema_mm=float(rng.uniform(*profile.vasogenic_edema_mm)),
        pet_uptake=float(rng.uniform(*profile.pet_uptake)),
        pet_half_saturation=float(rng.uniform(0.05, 0.15)),
        treatment_survival=survival,
        followup_volume_ml=float(rng.uniform(*profile.followup_volume_ml)),
        out_of_field_survival_factor=float(rng.uniform(2.0, 6.0)),
        n_occult_foci=min(3, int(rng.poisson(profile.occult_foci_rate))),
        core_recurrence=profile.core_recurrence,
        n_lesions=int(rng.integers(1, 5)) if tumor_type == "metastasis" else 1,
    )
