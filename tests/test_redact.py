"""The redactor: absolute paths become relative (or …/name), env values become names."""

from __future__ import annotations

from pathlib import Path

from imagination.redact import ELIDED, Redactor


def test_paths_under_known_folders_become_relative_others_keep_their_name(tmp_path):
    config = tmp_path / "project"
    redactor = Redactor([(config, ""), (tmp_path / "home", "~")])
    assert redactor.text(str(config / "cohort" / "manifest.csv")) == "cohort/manifest.csv"
    assert redactor.text(str(tmp_path / "home" / "x.yaml")) == "~/x.yaml"
    assert redactor.text(str(config)) == "."
    assert redactor.text("/opt/models/Doe_John/run.sh") == f"{ELIDED}/run.sh"
    text = f"cannot open '{config}/cases/c1.nii.gz' (see /var/log/x.log)"
    assert redactor.text(text) == f"cannot open 'cases/c1.nii.gz' (see {ELIDED}/x.log)"


def test_text_that_only_looks_like_a_path_is_kept():
    redactor = Redactor()
    for text in ("10 km/h", "cases/c1/t1c.nii.gz", "https://example.org/a/b", "03/04/2021",
                 "ratio 1/2", "a / b", "~/x"):
        assert redactor.text(text) == text


def test_env_mappings_are_published_as_names_only(tmp_path):
    tree = {"adapters": [{"name": "command", "params": {
        "env": {"TOKEN": "s3cret", "A_HOST": "db.internal"},
        "argv": [str(tmp_path / "run.sh"), "{input}"]}}],
        "path": Path(tmp_path / "x")}
    out = Redactor([(tmp_path, "")]).tree(tree)
    assert out["adapters"][0]["params"]["env"] == ["A_HOST", "TOKEN"]
    assert out["adapters"][0]["params"]["argv"] == ["run.sh", "{input}"]
    assert out["path"] == "x"
    assert "s3cret" not in repr(out) and str(tmp_path) not in repr(out)
