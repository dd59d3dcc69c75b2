"""``rano2`` and ``rano2-perfusion``: RANO 2.0 response of a (baseline, follow-up) pair.

``rano2`` measures the enhancing tumour (ET) of both exams' tumour masks with the built-in
engine (:mod:`imagination.rano`: target lesions, volumes or bidimensional products, RANO 2.0
thresholds, the 12-week post-radiotherapy window) and puts all probability on its category.
``masks: reference`` reads the cases' own reference masks: a *reference pathway* ("RANO from
truth", the one declared exception to the response task's mask blinding). ``masks: ID``
reads the masks the segmentation adapter ``ID`` made of both exams (configure
``inputs: {mask_tumor: {from: ID}}``): the "AI-RANO" pipeline.

Its true-vs-pseudoprogression probability uses size and timing only: 0.5 (undecided) for a
progression call inside the window, where RANO 2.0 asks for a confirming scan (or when the
radiotherapy date is unknown), else 0.

``rano2-perfusion`` adds a weight-free physiological rule: the follow-up's enhancing tumour is
called treatment effect (pseudoprogression) when its mean rCBV relative to normal-appearing
white matter (the case's ``wm`` tissue map >= 0.9 outside the tumour mask; without one, all
normal-appearing brain) is low (ratio below ``rcbv_threshold``, 1.75), or, without rCBV, its
amino-acid PET tumour-to-brain ratio (against normal-appearing brain) is low (below
``tbr_threshold``, 1.9): an undecided progression call (inside the window) gets the
probability of pseudoprogression ``1 / (1 + (ratio / threshold)^4)``, 0.5 at the threshold
(odds × (threshold / ratio)^4); a progression RANO keeps stays true progression. A progression
call then splits its probability between PD (true progression) and SD (treatment effect: what
a confirming scan shows). Without the signals it asks for (``signals``), it is ``rano2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from imagination.adapters.baselines.regions import brain_mask
from imagination.adapters.protocol import ModelCard, Predictions
from imagination.cohort.case import LoadedCase
from imagination.errors import CaseError, InputError
from imagination.names import check_name
from imagination.rano.criteria import RESPONSES, THRESHOLDS, Assessment, assess

REFERENCE: Final = "reference"
BASELINE: Final = "baseline"
_CITATION = ("Wen et al., RANO 2.0, J Clin Oncol 2023;41:5187 (thresholds, measurable "
             "disease, 12-week window); Ellingson et al., Neurotherapeutics 2017;14:307 "
             "(volumetric)")
#: Steepness of the weight-free ratio-to-probability map (0.5 at the threshold).
_STEEPNESS: Final = 4.0
SIGNALS: Final = ("rcbv", "pet")


class Rano2Adapter:
    """RANO 2.0 from two segmentations (reference masks or a segmentation adapter's)."""

    name = "rano2"
    version = "1.0"
    tasks = ("response", "progression_type")
    required_modalities: tuple[str, ...] = ()
    optional_modalities: tuple[str, ...] = ()

    def __init__(self, method: str = "volumetric", masks: str = REFERENCE) -> None:
        if method not in THRESHOLDS:
            raise InputError(f"{self.name}: method must be one of {sorted(THRESHOLDS)}, "
                             f"got {method!r}")
        if not isinstance(masks, str) or not masks:
            raise InputError(f"{self.name}: masks must be 'reference' or an adapter id")
        self.method = method
        self.masks = masks if masks == REFERENCE else check_name(masks)
        #: the declared exception to blinding: RANO from the cases' reference masks
        self.reads_reference_masks = masks == REFERENCE
        #: AI-RANO: the chain the bench config must declare (checked before the run)
        self.chained_inputs = {} if self.reads_reference_masks else {"mask_tumor": self.masks}
        self.pathway = ("reference pathway: RANO from truth (reference masks)"
                        if self.reads_reference_masks else f"AI-RANO: masks from {masks}")
        self.card = ModelCard(
            intended_use=(f"RANO 2.0 {method} response of a baseline/follow-up pair from "
                          + ("the reference tumour masks (reference pathway, not a model)"
                             if self.reads_reference_masks else
                             f"the segmentations of adapter {masks} (AI-RANO)")),
            reference=_CITATION)

    def params(self) -> Mapping[str, Any]:
        return {"method": self.method, "masks": self.masks}

    def assessment(self, case: LoadedCase) -> Assessment:
        """The RANO 2.0 call of the pair (``case`` = follow-up, its baseline a companion)."""
        baseline = case.companions.get(BASELINE)
        if baseline is None:
            raise CaseError("no baseline exam: the response task needs baseline_case_id",
                            case_id=case.case_id, column="baseline_case_id")
        for exam in (baseline, case):
            if "tumor" not in exam.masks:
                raise CaseError(self._missing_mask(), case_id=exam.case_id,
                                column="mask_tumor")
        if (baseline.grid.shape != case.grid.shape
                or not np.allclose(baseline.grid.affine, case.grid.affine, atol=1e-3)):
            raise CaseError(f"baseline {baseline.case_id} is on another grid than the "
                            "follow-up: RANO here compares the exams voxel by voxel, so "
                            "resample a subject's exams to one grid", case_id=case.case_id)
        days = getattr(case.case, "days_since_radiotherapy_end", None)
        return assess(baseline.region("ET"), case.region("ET"), case.grid.spacing,
                      self.method, days)  # type: ignore[arg-type]

    def _missing_mask(self) -> str:
        if self.reads_reference_masks:
            return "no reference tumour mask (mask_tumor) for RANO from truth"
        return (f"no tumour mask from {self.masks}: configure this adapter with "
                f"inputs: {{mask_tumor: {{from: {self.masks}}}}}")

    def pseudoprogression(self, case: LoadedCase, call: Assessment) -> float:
        """Size and timing only: a progression call is undecided (0.5) inside the
        post-radiotherapy window or when the radiotherapy date is unknown, else 0 (RANO 2.0
        keeps a progression outside the window)."""
        if call.response != "PD":
            return 0.0
        days = getattr(case.case, "days_since_radiotherapy_end", None)
        return 0.5 if days is None or call.preliminary else 0.0

    def response(self, call: Assessment, p_pseudo: float) -> dict[str, float]:
        """Probabilities over CR/PR/SD/PD: all on the RANO call."""
        return {c: float(c == call.response) for c in RESPONSES}

    def predict(self, case: LoadedCase) -> Predictions:
        call = self.assessment(case)
        p_pseudo = float(self.pseudoprogression(case, call))
        response = self.response(call, p_pseudo)
        return Predictions(case_id=case.case_id, outputs={
            "response": response,
            "progression_type": {"true_progression": 1.0 - p_pseudo,
                                 "pseudoprogression": p_pseudo}})


class Rano2PerfusionAdapter(Rano2Adapter):
    """RANO 2.0 plus a low-rCBV (or low PET uptake) call of treatment effect."""

    name = "rano2-perfusion"
    optional_modalities: tuple[str, ...] = SIGNALS

    def __init__(self, method: str = "volumetric", masks: str = REFERENCE,
                 rcbv_threshold: float = 1.75, tbr_threshold: float = 1.9,
                 signals: Sequence[str] = SIGNALS) -> None:
        super().__init__(method, masks)
        if not rcbv_threshold > 0 or not tbr_threshold > 0:
            raise InputError(f"{self.name}: thresholds must be positive")
        unknown = [s for s in signals if s not in SIGNALS]
        if unknown or not signals:
            raise InputError(f"{self.name}: signals must be a non-empty list of "
                             f"{list(SIGNALS)}, got {list(signals)}")
        self.rcbv_threshold = float(rcbv_threshold)
        self.tbr_threshold = float(tbr_threshold)
        self.signals = tuple(signals)
        self.pathway = self.pathway.replace("RANO", "RANO + perfusion/PET", 1)
        self.card = ModelCard(
            intended_use=self.card.intended_use + (
                f"; an enhancing lesion with mean rCBV ratio < {self.rcbv_threshold:g} (or "
                f"PET TBR < {self.tbr_threshold:g}) is called treatment effect"),
            reference=_CITATION + "; Patel et al., Neuro Oncol 2017 (perfusion meta-analysis); "
                      "Galldiks et al., Eur J Nucl Med Mol Imaging 2015 (FET PET TBR)")

    def params(self) -> Mapping[str, Any]:
        return {**super().params(), "rcbv_threshold": self.rcbv_threshold,
                "tbr_threshold": self.tbr_threshold, "signals": list(self.signals)}

    def response(self, call: Assessment, p_pseudo: float) -> dict[str, float]:
        """A progression call split between PD (true progression, 1 - p) and SD (treatment
        effect, p: what the confirming scan would show); other calls as RANO's."""
        out = super().response(call, p_pseudo)
        if call.response == "PD":
            out["PD"], out["SD"] = 1.0 - p_pseudo, p_pseudo
        return out

    def pseudoprogression(self, case: LoadedCase, call: Assessment) -> float:
        """The size-and-timing probability updated by the signal: odds × (threshold /
        ratio)^4, so an undecided call (0.5) becomes 1 / (1 + (ratio / threshold)^4) and a
        kept or absent progression call stays 0."""
        prior = super().pseudoprogression(case, call)
        enhancing = case.region("ET")
        signal = next((s for s in self.signals if s in case.images), None)
        if signal is None or not enhancing.any() or prior in (0.0, 1.0):
            return prior
        normal = brain_mask(case) & (case.masks["tumor"] == 0)
        if signal == "rcbv":
            ratio = uptake_ratio(case.images["rcbv"], enhancing, rcbv_reference(case, normal))
            threshold = self.rcbv_threshold
        else:
            ratio = uptake_ratio(case.images["pet"], enhancing, normal)
            threshold = self.tbr_threshold
        odds = prior / (1.0 - prior) / (max(ratio, 0.0) / threshold) ** _STEEPNESS \
            if ratio > 0 else float("inf")
        return 1.0 if odds == float("inf") else float(odds / (1.0 + odds))


#: A voxel of the white-matter probability map at least this high is white matter.
WHITE_MATTER = 0.9


def rcbv_reference(case: LoadedCase, normal: np.ndarray) -> np.ndarray:
    """Where rCBV is normalised: normal-appearing white matter (the clinical convention) when
    the case has a white-matter map with such voxels, else all normal-appearing brain."""
    wm = case.tissues.get("wm")
    if wm is not None:
        white = normal & (wm >= WHITE_MATTER)
        if white.any():
            return white
    return normal


def uptake_ratio(image: np.ndarray, lesion: np.ndarray, normal: np.ndarray) -> float:
    """Mean of ``image`` in the lesion over its mean in the ``normal`` reference region."""
    if not normal.any():
        raise InputError("no normal-appearing brain to normalise the perfusion/PET signal")
    reference = float(np.mean(image[normal]))
    if not reference > 0:
        raise InputError(f"normal-appearing brain has mean signal {reference:g} (not > 0)")
    return float(np.mean(image[lesion])) / reference


def ratio_probability(ratio: float, threshold: float) -> float:
    """Probability of treatment effect: 1 / (1 + (ratio / threshold)^4), 0.5 at the
    threshold, falling as the ratio rises (weight-free)."""
    return float(1.0 / (1.0 + (max(ratio, 0.0) / threshold) ** _STEEPNESS))
