"""``imagination runs gc RUN_DIR``: delete stored records that no job of the current plan needs.

The current plan is the run's ``plan.json`` (written by the last ``bench``); records of other
keys (an earlier config, a changed adapter version, a changed cohort) and files under
``store/objects`` that the index does not name (leftovers of a crash) are removed. The run
folder's lock is held meanwhile, so a ``bench`` on the same folder cannot run at the same time.
"""

from __future__ import annotations

from pathlib import Path

from imagination.engine.runlock import hold
from imagination.engine.runs import INDEX_NAME, STORE_DIR, read_plan
from imagination.engine.store import Collected, PredictionStore
from imagination.errors import InputError


def collect_run_garbage(run_dir: Path | str) -> Collected:
    """Remove what no planned job refers to; :class:`InputError` without a plan or a store."""
    run_dir = Path(run_dir)
    plan = read_plan(run_dir)
    if plan is None:
        raise InputError(f"{run_dir}: no plan.json, so which records are current is unknown; "
                         "run imagination bench on this folder first")
    if not (run_dir / STORE_DIR / INDEX_NAME).is_file():
        raise InputError(f"{run_dir}: no store ({STORE_DIR}/{INDEX_NAME})")
    with hold(run_dir, "imagination bench or runs gc"):
        store = PredictionStore(run_dir / STORE_DIR, repair=True)
        try:
            return store.collect_garbage(job.key for job in plan)
        finally:
            store.close()
