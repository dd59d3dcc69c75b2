"""The segmentation family: adapters return an integer label map on the case grid with their
declared label map; truth is ``mask_tumor`` with the manifest's label map (hidden from the
adapters doing segmentation); each case is scored per region (WT, TC, ET, and NETC, SNFH, RC
where both label maps define them) by the BraTS 2025 definition (``metrics.brats``)."""

from __future__ import annotations

from collections.abc import Sequence

from imagination.tasks.base import Blinding, ScoringContext, TaskKind, TaskTables
from imagination.tasks.outputs import LABEL_MAP

#: leaderboard metrics (``volume_ml_pred`` and ``volume_ml_true`` are per-case values only:
#: descriptive, nothing to rank)
SEGMENTATION_METRICS = ("dice", "hd95", "nsd", "lesion_dice", "lesion_hd95", "lesion_f1",
                        "assd", "sensitivity", "precision", "volume_diff_ml",
                        "abs_volume_diff_ml", "lesion_tp", "lesion_fp", "lesion_fn")


class SegmentationKind(TaskKind):
    family = "segmentation"
    tasks = ("segmentation",)
    output = LABEL_MAP
    truth = ("mask_tumor with the manifest's label map; regions WT, TC, ET (and NETC, SNFH, "
             "RC where both label maps define them)")
    blinding = Blinding(masks=("tumor",), scope="performers")
    stored = "the adapter's integer codes (exact), a store member named by the task"
    headline_metrics = ("dice", "hd95", "nsd", "lesion_dice", "lesion_hd95", "lesion_f1")
    site_metrics = ("dice", "hd95")
    robustness_metrics = ("dice", "hd95")
    stability_metrics = ("seg_dice",)
    report_section = "imagination.report.segmentation_section:segmentation_section"

    def default_metrics(self, task: str, n_classes: int) -> tuple[str, ...]:
        return SEGMENTATION_METRICS

    def score(self, context: ScoringContext, tasks: Sequence[str]) -> TaskTables:
        from imagination.tasks.segmentation_scoring import segmentation_tables

        out = TaskTables()
        for task in tasks:
            out.extend(segmentation_tables(self, context, task))
        return out
