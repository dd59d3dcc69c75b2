"""Chained models: an adapter whose tumour mask comes from another adapter's segmentation.

``{name: ..., id: growth, inputs: {mask_tumor: {from: seg}}}`` runs ``growth`` on each case
with the mask ``seg`` produced for that same case (and perturbation), as in a hospital where
no expert outlines the tumour. The upstream prediction is made inside the downstream job (so no
job waits for another); the downstream job key includes the upstream job's key. For every
chained adapter the bench also runs its twin ``<id>@reference``, the same model fed the
reference segmentation, and ``chained.csv`` pairs the two per case: chained − reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np

from imagination.adapters.validation import AdapterCrashError
from imagination.cohort.case import LoadedCase
from imagination.cohort.labelmap import LabelMap
from imagination.config import AdapterConfig, BenchConfig
from imagination.errors import CaseError

#: Suffix of the twin adapter fed the reference segmentation.
REFERENCE_SUFFIX: Final[str] = "@reference"


def reference_label(label: str) -> str:
    return f"{label}{REFERENCE_SUFFIX}"


def with_reference_twins(config: BenchConfig) -> BenchConfig:
    """The config plus, for each chained adapter, its twin fed the reference mask."""
    labels = {a.label for a in config.adapters}
    twins = [AdapterConfig(name=a.name, id=reference_label(a.label), params=dict(a.params),
                           timeout_s=a.timeout_s)
             for a in config.adapters if a.inputs and reference_label(a.label) not in labels]
    if not twins:
        return config
    return config.model_copy(update={"adapters": [*config.adapters, *twins]})


def chained_pairs(config: BenchConfig) -> dict[str, str]:
    """Chained adapter id -> its reference twin's id."""
    return {a.label: reference_label(a.label) for a in config.adapters if a.inputs}


def label_map_of(predictions: Any) -> np.ndarray | None:
    """The segmentation an adapter returned (typed ``segmentation`` output or a container's
    label map)."""
    from imagination.adapters.protocol import Segmentation

    outputs = getattr(predictions, "outputs", None)
    if isinstance(outputs, Mapping):
        for value in outputs.values():
            if isinstance(value, Segmentation):
                return np.asarray(value.labels)
    value = getattr(predictions, "label_map", None)
    return None if value is None else np.asarray(value)


def recoded(labels: np.ndarray, source: LabelMap | None, target: LabelMap | None) -> np.ndarray:
    """``labels`` in ``source`` codes re-coded to ``target`` codes, region by region (regions
    the target lacks become background; without both maps the codes are kept)."""
    if source is None or target is None:
        return labels.astype(np.int16)
    out = np.zeros(labels.shape, dtype=np.int16)
    codes = {region: code for code, region in target.codes.items()}
    for code, region in source.codes.items():
        if region in codes:
            out[labels == code] = codes[region]
    return out


def feed_upstream(case: LoadedCase, upstream: Any, upstream_label: str) -> LoadedCase:
    """``case`` with its tumour mask replaced by ``upstream``'s segmentation of it."""
    try:
        predictions = upstream.predict(case)
    except Exception as exc:  # the upstream model's failure is this chained case's failure
        if isinstance(exc, CaseError) and exc.file is not None:
            raise  # an input file it read is damaged: the case's problem, named as such
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        raise AdapterCrashError(f"upstream {upstream_label} failed on this case: "
                                f"{reason}") from exc
    labels = label_map_of(predictions)
    if labels is None:
        raise AdapterCrashError(f"upstream {upstream_label} returned no segmentation")
    if labels.shape != tuple(case.grid.shape):
        raise AdapterCrashError(f"upstream {upstream_label}: segmentation shape {labels.shape} "
                                f"is not the case grid {tuple(case.grid.shape)}")
    mask = recoded(labels, getattr(upstream, "label_map", None), case.case.label_map)
    mask.setflags(write=False)
    fed = case.views()
    fed.masks["tumor"] = mask
    return fed


CHAINED_COLUMNS: Final[list[str]] = [
    "adapter", "reference_adapter", "upstream", "task", "region", "metric", "chained_value",
    "reference_value", "estimate", "ci_low", "ci_high", "p_value", "test", "p_wilcoxon", "n",
    "n_subjects"]


def chained_rows(config: BenchConfig, per_case: Any) -> list[dict[str, Any]]:
    """Per (chained adapter, task, region, metric) on clean data: the paired per-case difference
    chained − reference (mean, subject-bootstrap interval, sign-flip and Wilcoxon p-values).
    ``region`` is that of region-scored tasks (segmentation), empty for the others."""
    import pandas as pd

    from imagination.errors import InputError
    from imagination.stats.robustness import ablation_test

    stats = config.statistics
    rows: list[dict[str, Any]] = []
    clean = per_case[per_case["perturbation"] == "clean"]
    region = clean["region"] if "region" in clean.columns else pd.Series("", index=clean.index)
    clean = clean.assign(region=region.astype(object).fillna("").astype(str))
    upstreams = {a.label: a.inputs["mask_tumor"].from_ for a in config.adapters if a.inputs}
    for chained, reference in chained_pairs(config).items():
        both = clean[clean["adapter"].isin([chained, reference])]
        for (task, area, metric), group in both.groupby(["task", "region", "metric"],
                                                        sort=True):
            wide = group.pivot_table(index=["case_id", "subject_id"], columns="adapter",
                                     values="value", aggfunc="first")
            if chained not in wide or reference not in wide:
                continue
            wide = wide.dropna(subset=[chained, reference])
            row: dict[str, Any] = {
                "adapter": chained, "reference_adapter": reference,
                "upstream": upstreams[chained], "task": task, "region": area, "metric": metric,
                "chained_value": float(wide[chained].mean()) if len(wide) else np.nan,
                "reference_value": float(wide[reference].mean()) if len(wide) else np.nan}
            try:
                result = ablation_test(wide[chained].to_numpy(), wide[reference].to_numpy(),
                                       wide.index.get_level_values("subject_id").to_numpy(),
                                       n_resamples=stats.n_resamples, alpha=stats.alpha,
                                       seed=stats.seed)
            except InputError as exc:
                row.update({"test": f"not tested: {exc}", "n": 0, "n_subjects": 0})
            else:
                row.update({k: result[k] for k in ("estimate", "ci_low", "ci_high", "p_value",
                                                   "test", "p_wilcoxon", "n", "n_subjects")})
            rows.append(row)
    return rows


def write_chained_table(config: BenchConfig, run_dir: Any) -> Any:
    """Write ``chained.csv`` when the run has chained adapters; return its path or ``None``."""
    from pathlib import Path

    import pandas as pd

    from imagination.atomic import atomic_write_text

    if not chained_pairs(config):
        return None
    run_dir = Path(run_dir)
    per_case = pd.read_csv(run_dir / "per_case.csv")
    table = pd.DataFrame(chained_rows(config, per_case), columns=CHAINED_COLUMNS)
    path = run_dir / "chained.csv"
    atomic_write_text(path, table.to_csv(index=False, float_format="%.10g",  # as every table
                                         lineterminator="\n"))
    return path
