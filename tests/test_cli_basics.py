"""The CLI entry point: version, help and the manifest schema."""

from __future__ import annotations

import json
import subprocess
import sys

from imagination import __version__
from imagination.cli import app
from imagination.cli.app import run_app


def test_version_flag_prints_package_version(capsys):
    assert run_app(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_console_script_runs_as_module():
    out = subprocess.run([sys.executable, "-m", "imagination", "--help"],
                         capture_output=True, text=True, check=True)
    assert "manifest" in out.stdout


def test_unknown_command_is_a_usage_error_exit_2(capsys):
    assert run_app(["no-such-command"]) == 2


def test_manifest_schema_is_valid_json_with_required_identity_columns(capsys):
    assert run_app(["manifest", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    item = schema["properties"]["cases"]["items"]
    assert set(item["required"]) == {"case_id", "subject_id", "site"}
    assert "pet" in item["properties"] and "mask_tumor" in item["properties"]


def test_app_is_a_typer_app():
    assert app.info.name == "imagination"
