"""Scoring of the response family: the classification frame (leaderboard, comparisons, sites,
robustness, ablations on ``p_true``) over the pairs' follow-ups, plus the response tables of
``docs/run_directory.md``: one-vs-rest metrics per class (``response_classes.csv``) and the
confusion matrices (``confusion.csv``), each row naming the adapter's pathway."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np

from imagination.adapters.protocol import reads_reference_masks
from imagination.engine import aggregate as agg
from imagination.engine.chaining import chained_pairs
from imagination.engine.materialize import ClassPredictions, classification_predictions
from imagination.engine.plan import CLEAN
from imagination.metrics.registry import get
from imagination.runfolder import inside
from imagination.tasks.base import ScoringContext, TaskKind, TaskTables
from imagination.tasks.classification_scoring import prepare, score_classification
from imagination.tasks.response import PER_CLASS_METRICS

CLASS_COLUMNS: Final = ["task", "class", "metric", "adapter", "pathway", "value", "ci_low",
                        "ci_high", "n", "n_positive"]
CONFUSION_COLUMNS: Final = ["task", "adapter", "pathway", "truth", "predicted", "count"]
REFERENCE_PATHWAY: Final = "reference pathway"


def pathway(label: str, adapters: Mapping[str, Any], config: Any) -> str:
    """What an adapter's rows are: a reference pathway reading the reference masks (declared,
    or a chained adapter's ``@reference`` twin), a chained pipeline, or a model."""
    adapter = adapters.get(label)
    twins = {twin: chained for chained, twin in chained_pairs(config).items()}
    if label in twins:
        return f"{REFERENCE_PATHWAY}: {twins[label]} fed the reference masks"
    declared = getattr(adapter, "pathway", None)
    if declared:
        return str(declared)
    if reads_reference_masks(adapter):
        return f"{REFERENCE_PATHWAY}: reads the reference masks"
    entry = next((a for a in config.adapters if a.label == label), None)
    if entry is not None and entry.inputs:
        upstream = ", ".join(sorted({c.from_ for c in entry.inputs.values()}))
        return f"pipeline: masks from {upstream}"
    return "model"


def score_response(kind: TaskKind, ctx: ScoringContext, tasks: Sequence[str]) -> TaskTables:
    from imagination.adapters.registry import is_learning
    from imagination.engine.scoring import write_table

    vocab = {**ctx.vocabularies, **{t: kind.classes(t, ctx.vocabularies) for t in tasks}}
    ctx = replace(ctx, vocabularies=vocab)
    out = score_classification(kind, ctx, tasks)
    learners = {k: a for k, a in ctx.adapters.items() if is_learning(a)}
    jobs = [job for job in ctx.plan if set(job.tasks) & set(tasks)]
    preds = [p for p in classification_predictions(ctx.config, list(ctx.cohort.cases), jobs,
                                                   ctx.records, learners, vocab, tasks)
             if p.variant == CLEAN]
    class_rows, confusion = [], []
    for task in sorted({p.task for p in preds}):
        mine = [p for p in preds if p.task == task]
        paths = {p.adapter: pathway(p.adapter, ctx.adapters, ctx.config) for p in mine}
        confusion.extend(confusion_rows(mine, ctx.cohort, paths))
        if len(vocab[task]) > 2:
            class_rows.extend(per_class_rows(mine, ctx, paths))
    if not preds:
        return out  # no adapter did a response task: no response tables
    write_table(inside(ctx.run_dir, "response_classes.csv"), class_rows, CLASS_COLUMNS,
                ["task", "class", "metric", "adapter"])
    write_table(inside(ctx.run_dir, "confusion.csv"), confusion, CONFUSION_COLUMNS,
                ["task", "adapter", "truth", "predicted"])
    return out


def confusion_rows(preds: Sequence[ClassPredictions], cohort: Any,
                   paths: Mapping[str, str]) -> list[dict[str, Any]]:
    """Counts of (reference class, predicted class = highest probability) over the scored
    pairs (failed jobs left out), every cell of the vocabulary's grid written."""
    rows = []
    for pred in preds:
        truth = [c.labels.get(pred.task) or "" for c in cohort.cases]
        counts = {(t, p): 0 for t in pred.classes for p in pred.classes}
        for i, label in enumerate(truth):
            if label in pred.classes and not pred.failed[i]:
                counts[label, pred.classes[int(np.argmax(pred.proba[i]))]] += 1
        rows.extend({"task": pred.task, "adapter": pred.adapter, "pathway": paths[pred.adapter],
                     "truth": t, "predicted": p, "count": n} for (t, p), n in counts.items())
    return rows


def per_class_rows(preds: Sequence[ClassPredictions], ctx: ScoringContext,
                   paths: Mapping[str, str]) -> list[dict[str, Any]]:
    """One-vs-rest metrics of each class present in the truth (BraTPRO): the class against
    all others, positive when its probability is >= 0.5 (sensitivity, specificity, F1) or
    ranked by it (AUROC, AP), with the shared subject-bootstrap interval of the run."""
    config = ctx.config
    prepared = [prepare(p, ctx.cohort, config.failure_policy) for p in preds]
    if not prepared or any(x is None for x in prepared):
        return []
    datas = [x[0] for x in prepared]  # type: ignore[index]
    classes = prepared[0][1]  # type: ignore[index]
    rows = []
    for j, cls in enumerate(classes):
        rest = f"not {cls}"
        binary = [agg.ClassData(d.adapter, np.where(d.y_true == cls, cls, rest),
                                np.column_stack([1.0 - d.proba[:, j], d.proba[:, j]]),
                                d.subjects, d.sites, d.n_failed, d.kept) for d in datas]
        n_positive = int(np.count_nonzero(datas[0].y_true == cls))
        for name in PER_CLASS_METRICS:
            metric = get(name, "response")
            aggregate = agg.aggregate_classification(metric, binary, (rest, cls), cls,
                                                     config.statistics)
            for row in agg.leaderboard_rows(preds[0].task, metric, aggregate,
                                            config.statistics):
                rows.append({"task": row["task"], "class": cls, "metric": name,
                             "adapter": row["adapter"], "pathway": paths[row["adapter"]],
                             "value": row["value"], "ci_low": row["ci_low"],
                             "ci_high": row["ci_high"], "n": row["n"],
                             "n_positive": n_positive})
    return rows
