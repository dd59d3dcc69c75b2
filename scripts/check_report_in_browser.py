#!/usr/bin/env python3
"""Render a report.html in headless Chromium; check every image loaded and nothing was logged.

A copy of the report gets a small checking script (allowed by a nonce added to the report's
Content-Security-Policy, which otherwise stays as strict as shipped): it records script errors,
failed resource loads, CSP violations and ``console.error`` calls, and on ``load`` counts the
<img> elements that decoded (``naturalWidth > 0``) and the inline <svg> elements that have a
size. ``--dump-dom`` prints the DOM after load, from which the verdict is read.

Usage: scripts/check_report_in_browser.py RUN_DIR/report.html [--screenshot out.png]
Exit 0 when every image rendered and no error was logged, 1 otherwise, 2 without a browser.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars")
NONCE = "imagination-report-check"
RESULT_ID = "__imagination_report_check__"
CHECK_SCRIPT = f"""<script nonce="{NONCE}">
(function () {{
  var errors = [];
  window.addEventListener("error", function (e) {{
    var t = e.target || {{}};
    errors.push(t.tagName ? ("failed to load <" + t.tagName.toLowerCase() + "> "
      + (t.currentSrc || t.src || t.href || "").slice(0, 80)) : String(e.message));
  }}, true);
  document.addEventListener("securitypolicyviolation", function (e) {{
    errors.push("CSP blocked " + e.blockedURI + " (" + e.violatedDirective + ")");
  }});
  var original = console.error;
  console.error = function () {{
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  }};
  window.addEventListener("load", function () {{
    var imgs = Array.prototype.slice.call(document.images);
    var broken = imgs.filter(function (i) {{ return !(i.complete && i.naturalWidth > 0); }});
    var svgs = Array.prototype.slice.call(document.querySelectorAll("svg"));
    var empty = svgs.filter(function (s) {{ var r = s.getBoundingClientRect();
      return !(r.width > 0 && r.height > 0); }});
    var out = document.createElement("pre");
    out.id = "{RESULT_ID}";
    out.textContent = JSON.stringify({{
      images: imgs.length, broken: broken.map(function (i) {{ return i.alt || "(no alt)"; }}),
      svgs: svgs.length, empty_svgs: empty.length, errors: errors,
      title: document.title }});
    document.body.appendChild(out);
  }});
}})();
</script>"""


@dataclass
class BrowserCheck:
    images: int = 0
    broken: list[str] = field(default_factory=list)
    svgs: int = 0
    empty_svgs: int = 0
    errors: list[str] = field(default_factory=list)
    title: str = ""

    @property
    def ok(self) -> bool:
        return not self.broken and not self.empty_svgs and not self.errors and self.images > 0


def find_browser() -> str | None:
    """The Chromium executable: $CHROMIUM, /usr/bin/chromium, or one on PATH."""
    candidates = [os.environ.get("CHROMIUM", ""), "/usr/bin/chromium"]
    candidates += [shutil.which(name) or "" for name in BROWSERS]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)),
                None)


def instrument(page: str) -> str:
    """The report with the checking script first in <head> and its nonce allowed by the CSP."""
    csp = re.compile(r'(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(")', re.I)
    if csp.search(page):
        page = csp.sub(lambda m: f"{m[1]}{m[2]}; script-src 'nonce-{NONCE}'{m[3]}", page,
                       count=1)
    head = re.search(r"<head[^>]*>", page, re.I)
    at = head.end() if head else 0
    return page[:at] + CHECK_SCRIPT + page[at:]


def _run(browser: str, args: list[str], profile: str,
         timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def check_report(report: Path, *, browser: str | None = None, screenshot: Path | None = None,
                 timeout: float = 120.0) -> BrowserCheck:
    """Load ``report`` in headless Chromium and return what the page saw."""
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found (install it: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(instrument(report.read_text(encoding="utf-8")), encoding="utf-8")
        url = page.as_uri()
        done = _run(browser, ["--virtual-time-budget=10000", "--dump-dom", url],
                    str(Path(tmp) / "profile"), timeout)
        match = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', done.stdout, re.S)
        if match is None:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"the page did not finish loading (exit {done.returncode}): {tail}")
        check = BrowserCheck(**json.loads(html.unescape(match[1])))
        if screenshot is not None:
            _run(browser, ["--window-size=1280,2200", f"--screenshot={screenshot.resolve()}",
                           report.resolve().as_uri()], str(Path(tmp) / "profile2"), timeout)
        return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--browser", default=None)
    args = parser.parse_args(argv)
    try:
        check = check_report(args.report, browser=args.browser, screenshot=args.screenshot)
    except FileNotFoundError as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 2
    print(f"{check.images} images ({len(check.broken)} broken), {check.svgs} inline svg "
          f"({check.empty_svgs} empty), {len(check.errors)} errors; title: {check.title}")
    for problem in check.broken:
        print(f"  broken image: {problem}")
    for problem in check.errors:
        print(f"  error: {problem}")
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
