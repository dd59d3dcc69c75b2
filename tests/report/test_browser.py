"""The report renders in headless Chromium: every image decodes, nothing is logged.

Skipped, with the reason, when no Chromium is installed (`apt-get install -y chromium`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_report_in_browser.py"
_spec = importlib.util.spec_from_file_location("check_report_in_browser", SCRIPT)
checker = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = checker
_spec.loader.exec_module(checker)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("report"),
    pytest.mark.skipif(checker.find_browser() is None,
                       reason="no headless Chromium installed (apt-get install -y chromium); "
                              "the report's browser check did not run"),
]


def test_every_figure_renders_and_nothing_is_logged(reported_run):
    run_dir, _ = reported_run
    check = checker.check_report(run_dir / "report.html")
    assert check.errors == [] and check.broken == []
    assert check.images == (run_dir / "report.html").read_text().count("<img ") >= 15
    assert check.ok and "imagination benchmark report" in check.title


def test_the_check_catches_a_broken_image_and_a_network_load(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        "<title>t</title></head><body>"
        '<img alt="good" src="data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv'
        'MjAwMC9zdmciIHdpZHRoPSIxMCIgaGVpZ2h0PSIxMCIvPg==">'
        '<img alt="corrupt" src="data:image/png;base64,AAAA">'
        '<img alt="remote" src="https://example.org/x.png"></body></html>')
    check = checker.check_report(page)
    assert not check.ok
    assert sorted(check.broken) == ["corrupt", "remote"] and check.images == 3
    assert any("CSP" in e or "failed to load" in e for e in check.errors)
