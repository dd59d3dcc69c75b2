"""`imagination synth`: write a synthetic multicenter glioma cohort with known truth."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from imagination.cli.app import app, out_console


@app.command("synth")
def synth(
    out_dir: Path = typer.Argument(..., help="Folder to write the cohort into."),
    cases: int = typer.Option(40, "--cases", help="Number of cases."),
    sites: int = typer.Option(3, "--sites", help="Number of centres (scanners, case mixes)."),
    seed: int = typer.Option(1, "--seed", help="Random seed; same arguments, same bytes."),
    resolution: float = typer.Option(2.0, "--resolution", help="MRI voxel size in mm."),
    pet_resolution: float | None = typer.Option(
        None, "--pet-resolution", help="PET voxel size in mm (default: max(4, 2 x resolution))."
    ),
    prevalence: str | None = typer.Option(
        None, "--prevalence",
        help="Tumour-type weights, e.g. glioblastoma=0.5,astrocytoma=0.3,oligodendroglioma=0.2",
    ),
    followups: int = typer.Option(
        0, "--followups",
        help="Longitudinal series: each glioblastoma subject gets a post-radiotherapy exam and "
             "N follow-ups (0 = one pre-operative exam per subject).",
    ),
    series: int | None = typer.Option(
        None, "--series", help="With --followups: at most this many glioblastoma subjects "
                               "get a series (default: all)."),
    workers: int = typer.Option(
        0, "--workers", help="Worker processes, 0 = one per CPU up to 4 (output is identical)."
    ),
) -> None:
    """Write NIfTI images, manifest.csv (+ .meta.yaml) and truth.json into OUT_DIR.

    OUT_DIR must be new or empty: the cohort is written into a temporary folder beside it and
    renamed at the end, so an interrupted run (exit 3) leaves no half cohort.
    """
    from imagination.cohort.synthetic import SynthConfig, generate_cohort, parse_prevalence
    from imagination.errors import InputError

    out_dir = out_dir.absolute()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError(f"output {out_dir} exists and is not an empty folder: synth writes a "
                         "new cohort folder; name another one or remove it")

    config = SynthConfig(
        n_cases=cases, n_sites=sites, seed=seed, resolution_mm=resolution,
        pet_resolution_mm=pet_resolution, workers=workers or min(4, os.cpu_count() or 1),
        followups=followups, series=series,
        **({"prevalence": parse_prevalence(prevalence)} if prevalence else {}),
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial",
                                    dir=out_dir.parent))
    try:
        summary = generate_cohort(staging, config)
        if out_dir.is_dir():
            out_dir.rmdir()  # empty (checked above)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    mix = ", ".join(f"{name} {count}" for name, count in summary.type_counts.items())
    out_console.print(f"wrote {summary.n_cases} cases ({mix})")
    if followups:
        out_console.print(f"longitudinal: {summary.n_cases - cases} later exams "
                          "(baseline_case_id, response, progression_type)")
    out_console.print(f"manifest: {out_dir / summary.manifest.relative_to(staging)}")
    out_console.print(f"truth:    {out_dir / summary.truth.relative_to(staging)}")
