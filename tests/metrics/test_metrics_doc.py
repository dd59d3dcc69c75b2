"""`imagination metrics list [--json]` and docs/metrics.md show the registry (issue 12 item 23)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from imagination.cli.app import run_app
from imagination.metrics import registry

ROOT = Path(__file__).resolve().parents[2]


def _script():
    path = ROOT / "scripts" / "metrics_doc.py"
    spec = importlib.util.spec_from_file_location("metrics_doc", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_metrics_md_is_the_registry() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    script = _script()
    assert script.generated_block(text) == script.render(), (
        "docs/metrics.md is stale: python scripts/metrics_doc.py")
    for m in registry.available("classification") + registry.available("recurrence"):
        assert f"| `{m.name}` |" in text


def test_metrics_list_json_has_every_field(capsys) -> None:
    import imagination.cli  # noqa: F401  (registers the command groups)

    assert run_app(["metrics", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(listed) >= {m.name for m in registry.available()} | {"flip_rate", "plan_dice"}
    slope = listed["calibration_slope"]
    assert (slope["direction"], slope["target"], slope["label"]) == ("target", 1.0,
                                                                    "calibration slope")
    assert listed["missed_ml_model"]["unit"] == "mL"
    assert listed["dice"]["edge_cases"]["empty_prediction"] == 0.0
    assert listed["auroc"]["reference_implementation"].endswith("roc_auc_score")
    assert run_app(["metrics", "list", "--family", "segmentation"]) == 0
    out = capsys.readouterr().out
    assert "hd95" in out and "lower is better" in out and "auroc" not in out
    assert run_app(["metrics", "list", "--family", "nope"]) == 2
